"""No secret is committed: every file git tracks is scanned for keys, tokens and passwords.

The scanner looks for private key blocks, cloud and service tokens of known shapes,
credentials inside URLs, and passwords, secrets or tokens assigned a literal value. Values
that only name where a secret comes from (``${VAR}``, ``env_var(...)``, ``os.environ``)
and obvious placeholders (``change-me``, ``<your-token>``, empty) pass. Committed ``.env``
files are findings in themselves; only ``.env.example`` may be tracked, and every value
it gives a secret-named variable must be a placeholder.

The fake secrets below are built by concatenation so that this file does not match itself.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 2_000_000  # larger tracked files are data, not configuration

# (rule, pattern); each match is a finding unless its value is a placeholder or reference
TOKEN_RULES = [
    ("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{60,})\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    ("OpenAI/Anthropic-style key", re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{32,}")),
    ("Stripe key", re.compile(r"\b[rs]k_live_[A-Za-z0-9]{20,}\b")),
    ("PyPI token", re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{50,}")),
    ("JSON web token", re.compile(r"\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}")),
]
# user:password@host inside a URL
URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:(?P<value>[^\s@/'\"]+)@", re.I)
# NAME = value, NAME: value, "name": "value", where NAME says it holds a secret
SECRET_NAME = (
    r"[\w.-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|fernet[_-]?key|auth[_-]?key|credentials?)[\w.-]*"
)
ASSIGNED = re.compile(
    # not inside ${NAME:?message} or {{ ... }}: the name must start a word of its own
    rf"""(?<![{{\w.$-])(?P<name>{SECRET_NAME})"""
    # NAME = v, NAME := v, NAME: v (YAML), "NAME": v (JSON); not psql's PASSWORD :'var'
    r"""(?:\s*:?=\s*|["']?:\s+|["']:\s*)"""
    r"""(?:"(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s#,;)]+))""",
    re.I,
)
# file kinds where an unquoted value is a literal (in code it is an expression)
BARE_LITERAL_FILES = {".env", ".ini", ".cfg", ".conf", ".properties", ".toml", ".yml", ".yaml"}
# names that hold where a secret lives or how long it is, not the secret
NOT_A_SECRET_NAME = re.compile(
    r"(?:_file|_path|_dir|_env|_name|_names|_url|_uri|_id|_length|_len|_size|_ttl|_type"
    r"|_expiration|_header|_field|_prefix)$",
    re.I,
)
PLACEHOLDER = re.compile(
    r"(?:|change-?me|changeit|placeholder|redacted|secret|password|example[\w-]*|dummy"
    r"|fake[\w-]*|test|xx+|\*+|\.\.\.|none|null|true|false|<[^>]*>|your[\w-]*)",
    re.I,
)
# a value that names the secret's source instead of holding it
REFERENCE = re.compile(
    r"^(?:\$\{?[A-Za-z_]|\$\$\{|\{\{|%\(|os\.environ|os\.getenv|env_var|getenv|settings\.|"
    r"args\.|self\.|cls\.|config\.|secrets\.)"
)
ENV_FILE = re.compile(r"(?:^|/)\.env(?:\.[\w.-]+)?$")
KEY_FILE = re.compile(r"(?:^|/)(?:id_(?:rsa|dsa|ecdsa|ed25519)|.*\.(?:pem|key|p12|pfx|jks))$")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str

    def __str__(self) -> str:  # never prints the secret itself
        return f"{self.path}:{self.line}: {self.rule}"


def _literal(value: str, bare: bool = False) -> bool:
    """A value that could be a real secret: not a placeholder, not a reference.

    Unquoted values also need 8 characters or a digit, so that prose such as
    "secret_key: signs the sessions" in a comment is not taken for one.
    """
    value = value.strip()
    if PLACEHOLDER.fullmatch(value) or REFERENCE.match(value) or len(value) < 6:
        return False
    return not bare or len(value) >= 8 or any(c.isdigit() for c in value)


def scan_text(path: str, text: str) -> list[Finding]:
    """Every line of ``text`` (the file at ``path``) that looks like it holds a secret."""
    findings = []
    bare_literals = Path(path).suffix in BARE_LITERAL_FILES or bool(ENV_FILE.search(path))
    for number, line in enumerate(text.splitlines(), start=1):
        for rule, pattern in TOKEN_RULES:
            if pattern.search(line):
                findings.append(Finding(path, number, rule))
        for match in URL_PASSWORD.finditer(line):
            if _literal(match["value"]):
                findings.append(Finding(path, number, "password in a URL"))
        for match in ASSIGNED.finditer(line):
            if NOT_A_SECRET_NAME.search(match["name"]):
                continue
            value = match["dq"] if match["dq"] is not None else match["sq"]
            bare = value is None
            if bare:
                if not bare_literals:
                    continue
                value = match["bare"]
            if _literal(value, bare):
                findings.append(Finding(path, number, f"literal value for {match['name']}"))
    return findings


def scan_file(path: Path, shown_as: str | None = None) -> list[Finding]:
    shown = shown_as or str(path)
    findings = []
    if ENV_FILE.search(shown) and not shown.endswith(".env.example"):
        findings.append(Finding(shown, 0, "committed .env file"))
    if KEY_FILE.search(shown):
        findings.append(Finding(shown, 0, "key or certificate store file"))
    data = path.read_bytes()[:MAX_BYTES]
    if b"\0" in data:  # binary (images): no text to scan
        return findings
    return findings + scan_text(shown, data.decode("utf-8", errors="replace"))


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"not a git checkout ({err}): nothing to scan")
    return [name for name in out.decode().split("\0") if name]


def test_no_secret_in_any_tracked_file():
    files = tracked_files()
    assert len(files) > 20, files  # the scan really ran over the repository
    findings = []
    for name in files:
        path = REPO_ROOT / name
        if path.is_file() and not path.is_symlink():
            findings += scan_file(path, name)
    assert not findings, "possible secrets committed:\n" + "\n".join(map(str, findings))


def test_only_the_env_template_is_tracked_and_it_holds_placeholders():
    env_files = [name for name in tracked_files() if ENV_FILE.search(name)]
    assert env_files == [".env.example"]
    secret_like = 0
    for line in (REPO_ROOT / ".env.example").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, value = line.partition("=")
        if re.fullmatch(SECRET_NAME, name.strip(), re.I):
            secret_like += 1
            assert value.strip() in {"", "change-me"}, f".env.example: {name} is not change-me"
    assert secret_like >= 8, "expected the template to list the stack's secrets"


# fakes in the shapes real secrets have; assembled at run time (see the module docstring)
PLANTED = [
    ("private key", "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEow" + "IBAAKCAQEA\n"),
    ("AWS access key id", "aws_key_id = " + "AKIA" + "QWERTYUIOPASDFGH\n"),
    ("GitHub token", "gh = " + "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8\n"),
    ("Hugging Face token", "HF = " + "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\n"),
    ("password in a URL", "url = 'postgresql://airflow:" + "s3cr3tPa55" + "@db:5432/airflow'\n"),
    ("literal value for DB_PASSWORD", "DB_" + "PASSWORD=hunter2hunter2\n"),
    ("literal value for api_key", "api_" + 'key = "9f8e7d6c5b4a"\n'),
]


@pytest.mark.parametrize(("rule", "secret"), PLANTED, ids=[rule for rule, _ in PLANTED])
def test_scanner_catches_a_planted_secret(tmp_path, rule, secret):
    planted = tmp_path / "settings.env"
    planted.write_text("# harmless line\nNAME=recfusion\n" + secret)
    findings = scan_file(planted, "config/settings.env")
    assert any(f.rule == rule for f in findings), findings
    assert all(f.line in (0, 3, 4) for f in findings)  # only the planted lines


def test_scanner_flags_committed_env_files_and_key_files(tmp_path):
    plain = tmp_path / "x"
    plain.write_text("COMPOSE_PROJECT_NAME=recfusion\n")
    assert [f.rule for f in scan_file(plain, "docker/.env")] == ["committed .env file"]
    assert [f.rule for f in scan_file(plain, ".env.production")] == ["committed .env file"]
    assert [f.rule for f in scan_file(plain, "deploy/id_ed25519")] == [
        "key or certificate store file"
    ]
    assert scan_file(plain, ".env.example") == []


def test_scanner_passes_references_and_placeholders():
    clean = "\n".join(
        [
            "AIRFLOW_DB_PASSWORD=change-me",
            "REDIS_PASSWORD=",
            "password: ${POSTGRES_PASSWORD:?set it}",
            "url: postgresql://airflow:${AIRFLOW_DB_PASSWORD}@postgres:5432/airflow",
            "token = os.environ['HF_TOKEN']",
            "secret_key: \"{{ env_var('SECRET') }}\"",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE: /opt/airflow/auth/passwords.json",
            "password = args.password",
            "api_key: <your-key>",
        ]
    )
    assert scan_text("config.yml", clean) == []
