"""Texts with personal data and secrets planted in them, generated with Faker and a seeded
generator: the values, where they are, and distractors around them (order numbers, Unix times,
versions, ids, amounts, dates) that must not be found."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from faker import Faker


@dataclass(frozen=True, slots=True)
class Planted:
    type: str
    text: str
    start: int
    end: int


def _token(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


_ALNUM = string.ascii_letters + string.digits


def _secret(kind: str, rng: random.Random, fake: Faker) -> str:
    if kind == "AWS_ACCESS_KEY":
        return "AKIA" + _token(rng, string.ascii_uppercase + string.digits, 16)
    if kind == "GITHUB_TOKEN":
        return "ghp_" + _token(rng, _ALNUM, 36)
    if kind == "OPENAI_API_KEY":
        return "sk-proj-" + _token(rng, _ALNUM, 40) + "A1b"
    if kind == "SLACK_TOKEN":
        return f"xoxb-{rng.randrange(10**11, 10**12)}-{rng.randrange(10**12, 10**13)}-" + _token(
            rng, _ALNUM, 24
        )
    if kind == "STRIPE_KEY":
        return "sk_live_" + _token(rng, _ALNUM, 24)
    if kind == "GOOGLE_API_KEY":
        return "AIza" + _token(rng, _ALNUM + "_-", 35)
    if kind == "GITLAB_TOKEN":
        return "glpat-" + _token(rng, _ALNUM, 20)
    if kind == "ANTHROPIC_API_KEY":
        return "sk-ant-api03-" + _token(rng, _ALNUM, 60)
    if kind == "JWT":
        header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        return f"{header}.{_token(rng, _ALNUM, 40)}.{_token(rng, _ALNUM + '_-', 43)}"
    if kind == "PASSWORD":
        return fake.password(length=rng.randrange(10, 20), special_chars=False)
    raise ValueError(kind)


_PII_TEMPLATES = {
    "EMAIL": (
        "Contact {name} at {v} about order #{order}.",
        "reply-to: {v}",
        "{name} <{v}> wrote on {date}:",
    ),
    "PHONE": ("Call {name} at {v} after {time}.", "Phone: {v}", "{name}'s number is {v} (ticket {order})."),
    "CREDIT_CARD": ("Card on file: {v}, expires {exp}.", "Charge {amount} to {v}.", "cc={v}"),
    "US_SSN": ("SSN {v} for {name}, born {date}.", "Social security number: {v}"),
    "IBAN": ("Wire {amount} to {v} by {date}.", "IBAN: {v} (account holder {name})"),
    "IP_ADDRESS": ("Login from {v} at {ts}.", "client_ip={v} build={version}"),
}
_SECRET_TEMPLATES = {
    "AWS_ACCESS_KEY": "aws_access_key_id = {v}",
    "GITHUB_TOKEN": "export GITHUB_TOKEN={v}",
    "OPENAI_API_KEY": "Authorization: Bearer {v}",
    "SLACK_TOKEN": "slack token {v} for #alerts",
    "STRIPE_KEY": "STRIPE_SECRET={v}",
    "GOOGLE_API_KEY": "maps key: {v}",
    "GITLAB_TOKEN": "CI uses {v} to push",
    "ANTHROPIC_API_KEY": "ANTHROPIC_API_KEY={v}",
    "JWT": "session cookie: {v}",
    "PASSWORD": 'db_password: "{v}"',
}
_DISTRACTORS = (
    "Order #{order} shipped on {date}.", "Build {version} deployed at {ts}.", "Invoice {invoice} totals {amount}.",
    "Request id {uuid} took 137 ms.", "Tracking number {order}.", "Meeting at {time} in room 4.12.",
    "Zip code {zip}, suite 1200.", "Version {version} fixes issue 4521.",
)  # fmt: skip


def generated_texts(count: int, seed: int) -> list[tuple[str, list[Planted]]]:
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    kinds = list(_PII_TEMPLATES) + list(_SECRET_TEMPLATES)
    out = []
    for index in range(count):
        kind = kinds[index % len(kinds)]
        value = _value(kind, rng, fake)
        template = rng.choice(_PII_TEMPLATES[kind]) if kind in _PII_TEMPLATES else _SECRET_TEMPLATES[kind]
        fill = _filler(rng, fake)
        prefix = rng.choice(_DISTRACTORS).format(**fill) + " " + fake.sentence() + " "
        before, _, after = template.partition("{v}")
        head = prefix + before.format(**fill)
        text = head + value + after.format(**fill) + " " + rng.choice(_DISTRACTORS).format(**fill)
        out.append((text, [Planted(kind, value, len(head), len(head) + len(value))]))
    return out


def _value(kind: str, rng: random.Random, fake: Faker) -> str:
    if kind == "EMAIL":
        return fake.email()
    if kind == "PHONE":
        return fake.phone_number()
    if kind == "CREDIT_CARD":
        return fake.credit_card_number()
    if kind == "US_SSN":
        return fake.ssn()
    if kind == "IBAN":
        return fake.iban()
    if kind == "IP_ADDRESS":
        return fake.ipv4_public() if rng.random() < 0.8 else fake.ipv6()
    return _secret(kind, rng, fake)


def _filler(rng: random.Random, fake: Faker) -> dict[str, str]:
    return {
        "name": fake.name(),
        "order": str(rng.randrange(10**9, 10**10)),
        "invoice": f"INV-{rng.randrange(10**5, 10**6)}",
        "date": fake.date(),
        "time": fake.time(),
        "ts": str(rng.randrange(1_600_000_000, 1_800_000_000)),
        "version": f"{rng.randrange(1, 9)}.{rng.randrange(0, 20)}.{rng.randrange(0, 40)}",
        "amount": f"${rng.randrange(10, 5000)}.{rng.randrange(10, 99)}",
        "uuid": fake.uuid4(),
        "zip": fake.zipcode(),
        "exp": fake.credit_card_expire(),
    }
