"""Values for the scanning tests: one or more real-looking instances of every finding type, and
near-misses that must not be found. All of them are published test values or made up."""

from __future__ import annotations

PEM_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "Z5tJ8lX+aXSLqZ1tPgZ0jwzYc1FzMuw=\n"
    "-----END RSA PRIVATE KEY-----"
)
JWT_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

# type -> values found whole (the finding is exactly the value) in ordinary surroundings.
POSITIVES: dict[str, tuple[str, ...]] = {
    "EMAIL": ("john.doe@example.com", "a+tag@mail.example.co.uk", "X_Y%z@sub-domain.example.org"),
    "CREDIT_CARD": (
        "4111111111111111",
        "4111 1111 1111 1111",
        "5555-5555-5555-4444",
        "378282246310005",
        "3782 822463 10005",
        "6011111111111117",
        "3530111333300000",
    ),
    "US_SSN": ("123-45-6789", "536 22 1234", "078-05-1121"),
    "PHONE": (
        "+14155550100",
        "+1 415 555 0100",
        "(415) 555-0100",
        "415-555-0100",
        "415.555.0100",
        "1-800-555-0199",
        "+44 20 7946 0958",
        "+49 30 12345678",
        "+33 1 23 45 67 89",
        "+44 (0)20 7946 0958",
        # Extensions, bare ten digits, dialling prefixes (the shapes Faker's en_US numbers take).
        "630.434.5116x5680",
        "(998)249-9664x291",
        "797-386-9073x6625",
        "5272868387",
        "001-630-434-5116",
        "001-630-434-5116x12345",
        "+1-537-640-6812x41586",
        "(783)703-8836",
        "4155550123 ext. 12",
        "+33 (0)2 34 15 24 49",
        "+911152449390",
    ),
    "IBAN": (
        "DE89370400440532013000",
        "DE89 3704 0044 0532 0130 00",
        "GB82WEST12345698765432",
        "GB82 WEST 1234 5698 7654 32",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
    ),
    "IP_ADDRESS": (
        "192.168.1.20",
        "8.8.8.8",
        "255.255.255.255",
        "2001:db8::8a2e:370:7334",
        "fe80::1ff:fe23:4567:890a",
    ),
    "AWS_ACCESS_KEY": ("AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A"),
    "GITHUB_TOKEN": (
        "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",
        "gho_16C7e42F292c6912E7710c838347Ae178B4a",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP",
    ),
    "GITLAB_TOKEN": ("glpat-xR8cD2vB7nM4kL9pQ3wZ",),
    "SLACK_TOKEN": ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",),
    "STRIPE_KEY": ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "rk_live_51H8abcDEFghiJKLmnoPQR"),
    "GOOGLE_API_KEY": ("AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI",),
    "OPENAI_API_KEY": (
        "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0f",
        "sk-T3BlbkFJa1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ01",
    ),
    "ANTHROPIC_API_KEY": ("sk-ant-api03-Xy9_zAbC1dEf2GhI3jKl4MnO5pQr6StU7vWx8YzA-bCdEfGhIjKlAA",),
    "JWT": (JWT_TOKEN,),
    "PRIVATE_KEY": (
        PEM_KEY,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB\n"
        "-----END OPENSSH PRIVATE KEY-----",
    ),
}

# (text, type, value): the finding is ``value`` inside ``text`` (the key name or quotes stay).
IN_CONTEXT: tuple[tuple[str, str, str], ...] = (
    ('"password": "hunter2"', "PASSWORD", "hunter2"),
    ("password=hunter2&user=bob", "PASSWORD", "hunter2"),
    ("DB_PASSWORD=s3cr3t!", "PASSWORD", "s3cr3t!"),
    ("passwd: correct-horse", "PASSWORD", "correct-horse"),
    ("client_secret = 'q8W!x2'", "PASSWORD", "q8W!x2"),
    ("?api_key=abc123def&x=1", "PASSWORD", "abc123def"),
    ("X-Api-Key: 7f3e9a0b1c", "PASSWORD", "7f3e9a0b1c"),
    ("userPassword := Tr0ub4dor", "PASSWORD", "Tr0ub4dor"),
    ('"secret": "with \\"escaped\\" quotes"', "PASSWORD", 'with \\"escaped\\" quotes'),
    (
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_SECRET_KEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    (
        '"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
        "AWS_SECRET_KEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    ("postgres://admin:s3cr3t@db.internal:5432/app", "URL_CREDENTIALS", "admin:s3cr3t"),
    ("redis://:p%40ss@cache:6379", "URL_CREDENTIALS", ":p%40ss"),
    ("https://bob:pa@ss@example.com/x", "URL_CREDENTIALS", "bob:pa@ss"),
    ("IBAN DE89 3704 0044 0532 0130 00 AB", "IBAN", "DE89 3704 0044 0532 0130 00"),
    # An id word before a number written as a phone number ("+", "(415)") does not make it an id.
    ("agent PO +14155550100", "PHONE", "+14155550100"),
    ("ref (415) 555-0100", "PHONE", "(415) 555-0100"),
    ("order no. +44 20 7946 0958", "PHONE", "+44 20 7946 0958"),
)

# (text, type that must not be reported in it)
NEAR_MISSES: tuple[tuple[str, str], ...] = (
    ("card 4111111111111112", "CREDIT_CARD"),  # bad Luhn digit
    ("id 1234567812345670", "CREDIT_CARD"),  # Luhn ok, no issuer starts with 1
    ("4111 1111 1111 1111 2024", "CREDIT_CARD"),  # part of a longer run of groups
    ("order 84111111111111111", "CREDIT_CARD"),
    ("ts 1700000000000", "CREDIT_CARD"),
    ("4111 1111-1111 1111", "CREDIT_CARD"),  # mixed separators
    ("000-12-3456", "US_SSN"),
    ("666-12-3456", "US_SSN"),
    ("912-12-3456", "US_SSN"),
    ("123-00-4567", "US_SSN"),
    ("123-45-0000", "US_SSN"),
    ("219-09-9999", "US_SSN"),
    ("123-45-67890", "US_SSN"),
    ("on 2024-01-15 at 10:23:45", "PHONE"),
    ("version 1.2.3 and 10.2.30", "PHONE"),
    ("order 5551234567", "PHONE"),  # a bare run of digits named as an id
    ("Order #5551234567", "PHONE"),
    ('{"invoice_id": 5551234567}', "PHONE"),
    ("tracking no. 5551234567", "PHONE"),
    ("ts=1717171717", "PHONE"),  # a Unix time: no area code starts with 1
    ("call 0551234567", "PHONE"),
    ("55512345678", "PHONE"),  # eleven bare digits
    ("pi 3.14159265358979", "PHONE"),
    ("+1 and +2", "PHONE"),
    ("DE89370400440532013001", "IBAN"),  # checksum off by one
    ("DE89 3704 0044 0532 0130", "IBAN"),  # too short for DE
    ("XX89370400440532013000", "IBAN"),  # no such country
    ("256.1.1.1", "IP_ADDRESS"),
    ("1.2.3.4.5", "IP_ADDRESS"),
    ("v1.2.3.4", "IP_ADDRESS"),
    ("01.02.03.04", "IP_ADDRESS"),
    ("12:30:45", "IP_ADDRESS"),
    ("std::vector<int> a; Foo::bar(); x[1::2]", "IP_ADDRESS"),
    ("00:1a:2b:3c:4d:5e", "IP_ADDRESS"),  # a MAC address
    ("3f1c2a9e-8b7d-4e6f-a1b2-c3d4e5f60718", "IP_ADDRESS"),
    ("AKIAIOSFODNN7EXAMPLEX", "AWS_ACCESS_KEY"),  # too long
    ("XAKIAIOSFODNN7EXAMPLE", "AWS_ACCESS_KEY"),
    ("ghp_short", "GITHUB_TOKEN"),
    ("sk-this-is-a-readable-slug-not-a-key", "OPENAI_API_KEY"),
    ("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "STRIPE_KEY"),
    ("eyJub3QiOiJhIGhlYWRlciJ9.eyJzdWIiOiIxIn0.c2ln", "JWT"),  # header has no "alg"
    ("eyJhbGciOiJIUzI1NiJ9.only-two", "JWT"),
    ("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END PUBLIC KEY-----", "PRIVATE_KEY"),
    ("-----BEGIN CERTIFICATE-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A", "PRIVATE_KEY"),
    ('"password": {"type": "string"}', "PASSWORD"),
    ("password=${DB_PASSWORD}", "PASSWORD"),
    ("password: null", "PASSWORD"),
    ("password: ********", "PASSWORD"),
    ("the secretary: Jane", "PASSWORD"),
    ("The password is long", "PASSWORD"),
    ("https://example.com/a:b@c", "URL_CREDENTIALS"),
    ("postgres://user@db/app", "URL_CREDENTIALS"),
    ("https://user:${TOKEN}@host/x", "URL_CREDENTIALS"),
    ("user@localhost", "EMAIL"),  # no dot in the domain
    ("see @mention and a@b", "EMAIL"),
    ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "IBAN"),
)

# Fragments for random texts: values, near-misses, their pieces, separators and non-ASCII.
FRAGMENTS: tuple[str, ...] = (
    *(value for values in POSITIVES.values() for value in values),
    *(text for text, _, _ in IN_CONTEXT),
    *(text for text, _ in NEAR_MISSES),
    *(" ", "  ", "\n", ", ", ". ", "-", "@", ":", "=", '"', "'", "/", "\\n", "&", "(", ")"),
    *("1", "12", "415", "555", "0100", "4111", "A", "AKIA", "DE89", "eyJ", "sk-", "ghp_", "xoxb-"),
    *("-----BEGIN", "-----END", " PRIVATE KEY-----", "://", "password", "api_key", "Secret"),
    *("é", "日本語", "🎉", "\u200b", "ß", "Ω", "\u00ad", "\uff20", "\u0430"),
    # Escapes and encodings that the normalized view and the segment detectors undo.
    *("\\u0040", "\\u00", "\\x40", "%40", "%4", "&#64;", "&#x40;", "&commat;", "&#6", "%C3%A9"),
    *("am9obi5kb2VAZXhhbXBsZS5jb20=", "6a6f686e40657861", "j o h n @ e x a m p l e . c o m", "4-1-1-1-"),
    "the deployment finished ",
    "contact me at ",
)
