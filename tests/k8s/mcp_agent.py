"""A calling agent, for the ingress pod tests: the real MCP client, its key in x-api-key, or its
workload certificate (an X509-SVID) as the TLS client certificate.

python -m tests.k8s.mcp_agent URL [KEY] [--client-cert PEM --client-key PEM --ca PEM] prints
what it saw as JSON: the tools it was shown, a call of an allowed tool, and the refusal of a
tool the policy does not allow. With a certificate, the server's chain is checked against the CA
(a SPIFFE peer is known by its URI SAN, not a host name).
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from typing import Any

import httpx2
import orjson
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError


def http_client(args: argparse.Namespace) -> httpx2.AsyncClient:
    headers = {"x-api-key": args.key} if args.key else None
    if args.client_cert is None:
        return create_mcp_http_client(headers=headers)
    context = ssl.create_default_context(cafile=args.ca)
    context.check_hostname = False
    context.load_cert_chain(args.client_cert, args.client_key)
    return httpx2.AsyncClient(headers=headers, verify=context, follow_redirects=True, timeout=30)


async def session(url: str, http: httpx2.AsyncClient) -> dict[str, Any]:
    async with (
        http,
        streamable_http_client(url, http_client=http) as streams,
        ClientSession(*streams[:2]) as client,
    ):
        await client.initialize()
        tools = await client.list_tools()
        search = await client.call_tool("search_docs", {"query": "refunds"})
        try:
            await client.call_tool("delete_repo", {"name": "payments"})
            refused = None
        except MCPError as error:
            refused = error.error.message
        return {
            "tools": sorted(tool.name for tool in tools.tools),
            "search": search.content[0].text if not search.is_error else None,
            "refused": refused,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("key", nargs="?")
    parser.add_argument("--client-cert")
    parser.add_argument("--client-key")
    parser.add_argument("--ca")
    args = parser.parse_args()
    sys.stdout.write(orjson.dumps(asyncio.run(session(args.url, http_client(args)))).decode() + "\n")


if __name__ == "__main__":
    main()
