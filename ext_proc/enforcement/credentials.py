"""The upstream request's credentials: the agent's own removed, the brokered one put in.

Whatever credential the agent presented (valid or not) is removed from the request before it
leaves, so an agent's key never reaches the upstream. A decision's ``credential`` (a secret the
agent never holds) or ``mint_token`` (a short-lived token minted for this agent) is then set.
A header both removed and set is only set: the set replaces the agent's value, and the order in
which Envoy applies removals and additions does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass

from ext_proc.credentials.broker import CredentialBroker
from ext_proc.errors import ChaperoneError, ErrorCode
from ext_proc.identity.model import AgentIdentity
from ext_proc.policy.decision import Decision

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class UpstreamCredentials:
    set: Headers = ()
    remove: tuple[str, ...] = ()

    @property
    def injected(self) -> tuple[str, ...]:
        """The names of the headers that carry a brokered credential (never shown to a policy)."""
        return tuple(name for name, _ in self.set)


NONE = UpstreamCredentials()


def upstream_credentials(
    decision: Decision, identity: AgentIdentity, broker: CredentialBroker
) -> UpstreamCredentials:
    """Raises ChaperoneError (``credential_unknown``, ``credential_unavailable``,
    ``token_mint_failed``): the request is refused, never sent without what the policy asked for."""
    if not identity.credential_headers and decision.credential is None and decision.mint_token is None:
        return NONE
    headers: list[tuple[str, str]] = []
    if decision.credential is not None:
        headers += broker.credential_headers(decision.credential)
    if decision.mint_token is not None:
        if not identity.authenticated or identity.agent_id is None:
            raise ChaperoneError(
                ErrorCode.TOKEN_MINT_FAILED,
                "a token is only minted for an authenticated agent",
                http_status=403,
            )
        headers += broker.mint_headers(decision.mint_token, identity.agent_id)
    names = {name for name, _ in headers}
    remove = tuple(name for name in identity.credential_headers if name not in names)
    return UpstreamCredentials(tuple(headers), remove)
