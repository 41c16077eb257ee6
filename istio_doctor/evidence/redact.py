"""Remove credentials from command output before it is saved or shared.

Recordings are meant to be attached to issues and passed between colleagues, and
``kubectl get secret``/``config view --raw``/Envoy config dumps can carry private keys and
tokens. ``redact(text)`` removes:

* PEM private keys (any ``-----BEGIN ... PRIVATE KEY-----`` block: PKCS#8, RSA, EC,
  ENCRYPTED, OPENSSH), also inside JSON strings (``\\n`` escapes) and indented YAML blocks,
  and truncated blocks that lost their END line;
* base64-encoded PEM private keys (Secret ``tls.key``, Envoy ``inline_bytes``), and any
  ``private_key``/``privateKey`` ``inline_bytes``/``inline_string`` value whatever it holds;
* JWTs, ``Authorization: Bearer|Basic ...`` values, and values of credential keys
  (``token``, ``password``, ``id-token``, ``refresh-token``, ``access-token``,
  ``client-key-data``, ``client-secret`` ...) in JSON and YAML, which covers kubeconfig users
  and their ``auth-provider`` configs, plus env vars whose name ends in PASSWORD/TOKEN/SECRET;
* Kubernetes ``Secret`` objects (JSON or YAML, alone or in a ``List``): every value of
  ``data`` and ``stringData``, and the ``last-applied-configuration`` annotation that
  repeats them.

Certificates (``BEGIN CERTIFICATE``, ``certificate-authority-data``,
``client-certificate-data``) stay: they are public and checks read them (expiry, SPIFFE IDs).

Redaction is idempotent and keeps JSON/YAML parseable, so a redacted recording still
replays. Everything is regex-driven with precompiled patterns and substring pre-filters,
because config dumps reach tens of megabytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from typing import Any

import yaml

MARK = "[REDACTED]"
_PEM_MARK = "[REDACTED by istio-doctor]"
REDACTED_PEM = f"-----BEGIN PRIVATE KEY-----\n{_PEM_MARK}\n-----END PRIVATE KEY-----"

# -- PEM private keys --------------------------------------------------------------------

# The body may hold base64, whitespace, RFC 1421 headers (Proc-Type: 4,ENCRYPTED / DEK-Info:
# AES-128-CBC,...) and JSON escapes (\n). A single '-' is allowed (DEK-Info) but not the start
# of another BEGIN line, so a truncated key never swallows a certificate that follows it.
# Without an END line the block ends where that alphabet ends (a truncated output).
_PEM_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
    r"(?![ \t]*(?:\\r\\n|\\n|\r?\n)[ \t]*\[REDACTED)"  # already redacted: keeps redact() idempotent
    r"(?P<body>(?:[A-Za-z0-9+/=\s:,\\]|-(?!----BEGIN ))*?)"
    r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|(?=-----BEGIN )|(?![A-Za-z0-9+/=\s:,\\-]))"
)
_LINE_BREAK = re.compile(r"(?:\\r\\n|\\n|\r\n|\n)[ \t]*")


def _pem_replacement(m: re.Match[str]) -> str:
    # Reuse the block's own line break (and indentation) so a key inside a JSON string stays
    # a valid JSON string and a key inside an indented YAML block scalar stays in the block.
    body = m.group("body")
    br = _LINE_BREAK.search(body)
    sep = br.group(0) if br else " "
    # A truncated block (no END line) ends in the whitespace before whatever follows it.
    tail = "" if m.group(0).endswith("PRIVATE KEY-----") else body[len(body.rstrip()):]
    return f"-----BEGIN PRIVATE KEY-----{sep}{_PEM_MARK}{sep}-----END PRIVATE KEY-----{tail}"


def _redact_pem(text: str) -> str:
    if "PRIVATE KEY-----" not in text:
        return text
    return _PEM_KEY.sub(_pem_replacement, text)


# -- base64-encoded PEM private keys ------------------------------------------------------


def _b64_needles(plain: bytes) -> tuple[str, ...]:
    """The base64 text of ``plain`` at each of the three byte alignments it can have."""
    out = []
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + plain).decode()
        # Drop the group mixed with the padding bytes and the final partial group.
        out.append(enc[4 if pad else 0 : -4])
    return tuple(out)


_B64_PRIVATE_KEY_NEEDLES = _b64_needles(b"PRIVATE KEY-----")
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
_REDACTED_PEM_B64 = base64.b64encode(REDACTED_PEM.encode() + b"\n").decode()


def _redact_b64_pem(text: str) -> str:
    if not any(n in text for n in _B64_PRIVATE_KEY_NEEDLES):
        return text
    spans: set[tuple[int, int]] = set()
    for needle in _B64_PRIVATE_KEY_NEEDLES:
        start = 0
        while (hit := text.find(needle, start)) != -1:
            # widen to the whole base64 run around the hit
            lo, hi = hit, hit + len(needle)
            while lo > 0 and text[lo - 1] in _B64_CHARS:
                lo -= 1
            while hi < len(text) and text[hi] in _B64_CHARS:
                hi += 1
            spans.add((lo, hi))
            start = hi
    out: list[str] = []
    pos = 0
    for lo, hi in sorted(spans):
        if lo < pos:
            continue  # the same run, found again through another alignment
        out += [text[pos:lo], _redact_b64_run(text[lo:hi])]
        pos = hi
    out.append(text[pos:])
    return "".join(out)


def _redact_b64_run(run: str) -> str:
    try:
        raw = base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
    except (binascii.Error, ValueError):
        return run
    decoded = raw.decode("utf-8", errors="replace")
    redacted = _redact_pem(decoded)
    if redacted == decoded:
        return run
    # Still valid base64 of a PEM: whatever decodes it (a config-dump parser) keeps working.
    return base64.b64encode(redacted.encode()).decode()


# Envoy keeps private keys in `private_key: {inline_bytes|inline_string|filename}`; Envoy's
# admin API usually shows "[redacted]" already, but dumps from other sources may not.
_ENVOY_PRIVATE_KEY_JSON = re.compile(
    r'("private_?[kK]ey"\s*:\s*\{\s*"inline_?(?:[bB]ytes|[sS]tring)"\s*:\s*")((?:[^"\\]|\\.)*)(")'
)
_ENVOY_PRIVATE_KEY_YAML = re.compile(
    r"(private_?[kK]ey:[ \t]*\r?\n[ \t]*inline_?(?:[bB]ytes|[sS]tring):[ \t]*)([^\s'\"][^\r\n]*|'[^'\r\n]*'|\"[^\"\r\n]*\")"
)
_REDACTED_B64 = base64.b64encode(MARK.encode()).decode()


def _envoy_json_sub(m: re.Match[str]) -> str:
    value = _REDACTED_B64 if "ytes" in m.group(1) else MARK
    return f"{m.group(1)}{value}{m.group(3)}"


def _envoy_yaml_sub(m: re.Match[str]) -> str:
    value = _REDACTED_B64 if "ytes" in m.group(1) else f'"{MARK}"'
    return f"{m.group(1)}{value}"


def _redact_envoy_keys(text: str) -> str:
    if "rivate_key" not in text and "rivateKey" not in text:
        return text
    text = _ENVOY_PRIVATE_KEY_JSON.sub(_envoy_json_sub, text)
    return _ENVOY_PRIVATE_KEY_YAML.sub(_envoy_yaml_sub, text)


# -- tokens and credential keys -----------------------------------------------------------

# The lookbehind sits after the literal "eyJ" so the regex engine can jump between
# occurrences of that literal instead of testing every position (a 3x difference on 50 MB).
_JWT = re.compile(r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_AUTH_HEADER = re.compile(
    r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token)[ \t]+)(?!\[REDACTED)[^\s\"',;]+"
)
_BEARER = re.compile(r"(?i)(\bbearer[ \t]+)(?!\[REDACTED)[A-Za-z0-9._~+/=-]{16,}")

# Keys whose value is a credential. Matched as the *whole* key, so serviceAccountToken,
# automountServiceAccountToken or tokenRequests are not touched.
_SECRET_KEYS = (
    r"(?:(?:access|refresh|id|auth|bearer|api|service-account|sa)[-_]?)?token"
    r"|password|passwd|client[-_]?key[-_]?data|client[-_]?secret|secret[-_]?key|api[-_]?key"
)
_KEY_JSON = re.compile(rf'(?i)("(?:{_SECRET_KEYS})"\s*:\s*")(?!\[REDACTED\]")((?:[^"\\]|\\.)*)(")')
_KEY_YAML = re.compile(
    rf"(?im)^([ \t]*(?:-[ \t]+)?[\"']?(?:{_SECRET_KEYS})[\"']?:[ \t]+)(?![\"']?\[REDACTED\])([^\s#|>{{\[][^\r\n]*|[\"'][^\r\n]*)$"
)
_KEY_FLAG = re.compile(r"(?i)(--(?:token|password|client-key-data)[= ])(?!\[REDACTED)\S+")
_ENV_SECRET_JSON = re.compile(
    r'(?i)("name"\s*:\s*"[^"]*(?:PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|APIKEY)"\s*,\s*"value"\s*:\s*")'
    r'(?!\[REDACTED\]")((?:[^"\\]|\\.)*)(")'
)
_ENV_SECRET_YAML = re.compile(
    r"(?im)^([ \t]*-?[ \t]*name:[ \t]*[\"']?[A-Z0-9_]*(?:PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|APIKEY)[\"']?[ \t]*\r?\n"
    r"[ \t]*value:[ \t]+)(?![\"']?\[REDACTED\])([^\r\n]+)$"
)


# The same, one JSON-string level down: a manifest or a kubeconfig held *inside* a string
# (``last-applied-configuration`` annotations, ConfigMap data) keeps its quotes as ``\"``
# and its line breaks as ``\n`` in the outer JSON.
_ESC_VALUE = r'((?:[^"\\]|\\[^"])*)'
_KEY_JSON_ESC = re.compile(rf'(?i)(\\"(?:{_SECRET_KEYS})\\"\s*:\s*\\")(?!\[REDACTED\])' + _ESC_VALUE + r'(\\")')
_ENV_SECRET_JSON_ESC = re.compile(
    r'(?i)(\\"name\\"\s*:\s*\\"[^"\\]*(?:PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|APIKEY)\\"\s*,\s*\\"value\\"\s*:\s*\\")'
    r'(?!\[REDACTED\])' + _ESC_VALUE + r'(\\")'
)
_KEY_YAML_ESC = re.compile(rf"(?i)(\\n[ \t]*(?:-[ \t]+)?(?:{_SECRET_KEYS}):[ \t]+)(?!\[REDACTED)([^\s\"\\]+)")
_SECRET_KIND_ESC = re.compile(r'\\"kind\\"\s*:\s*\\"Secret\\"')
_DATA_BLOCK_ESC = re.compile(r'(\\"(?:data|stringData)\\"\s*:\s*\{)([^{}]*)(\})')
_ESC_STRING_VALUE = re.compile(r'(:\s*\\")' + _ESC_VALUE + r'(\\")')


def _redact_escaped(text: str) -> str:
    """Credentials in JSON/YAML nested inside a JSON string (only scanned when one could be there)."""
    if '\\"' in text and _has_any(text, "oken", "assw", "ecret", "ey", "OKEN", "ASSW", "ECRET", "EY"):
        text = _KEY_JSON_ESC.sub(_json_value_sub, text)
        text = _ENV_SECRET_JSON_ESC.sub(_json_value_sub, text)
        if _SECRET_KIND_ESC.search(text):
            text = _DATA_BLOCK_ESC.sub(
                lambda m: m.group(1) + _ESC_STRING_VALUE.sub(_json_value_sub, m.group(2)) + m.group(3), text
            )
    if "\\n" in text and _has_any(text, "oken:", "assword:", "asswd:", "ata:", "ecret:", "ey:"):
        text = _KEY_YAML_ESC.sub(lambda m: m.group(1) + MARK, text)
    return text


def _json_value_sub(m: re.Match[str]) -> str:
    return f"{m.group(1)}{MARK}{m.group(3)}"


def _yaml_value_sub(m: re.Match[str]) -> str:
    # Quoted: a bare [REDACTED] would read back as a YAML list.
    return f'{m.group(1)}"{MARK}"'


# Probes find the few lines worth the full multi-line, case-insensitive (hence slow) patterns
# above. They run case-sensitively over an ASCII-lower-cased copy, which is ~7x faster than
# IGNORECASE and keeps every offset (str.lower() can change the length of non-ASCII text).
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_KEY_YAML_PROBE = re.compile(r"(?:token|passw(?:or)?d|key[-_]?data|secret|key)[\"']?:[ \t]+\S")
_ENV_YAML_PROBE = re.compile(r"(?:password|passwd|token|secret|api_key|apikey)[\"']?[ \t]*\r?\n[ \t]*value:")


def _sub_around(probe: re.Pattern[str], full: re.Pattern[str], repl: Any, text: str) -> str:
    """Apply ``full`` only to the lines a ``probe`` hit touches (from its line start to its line end)."""
    out: list[str] = []
    pos = 0
    for m in probe.finditer(text.translate(_ASCII_LOWER)):
        if m.start() < pos:
            continue
        lo = max(text.rfind("\n", 0, m.start()) + 1, pos)
        nl = text.find("\n", m.end())
        hi = len(text) if nl == -1 else nl
        out += [text[pos:lo], full.sub(repl, text[lo:hi])]
        pos = hi
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _has_any(text: str, *words: str) -> bool:
    return any(w in text for w in words)


def _redact_tokens(text: str) -> str:
    if "eyJ" in text:
        text = _JWT.sub(MARK, text)
    if _has_any(text, "uthorization", "UTHORIZATION"):
        text = _AUTH_HEADER.sub(lambda m: m.group(1) + MARK, text)
    if _has_any(text, "earer", "EARER"):
        text = _BEARER.sub(lambda m: m.group(1) + MARK, text)
    text = _KEY_JSON.sub(_json_value_sub, text)
    text = _redact_escaped(text)
    text = _sub_around(_KEY_YAML_PROBE, _KEY_YAML, _yaml_value_sub, text)
    if "--" in text:
        text = _KEY_FLAG.sub(lambda m: m.group(1) + MARK, text)
    if '"value"' in text:
        text = _ENV_SECRET_JSON.sub(_json_value_sub, text)
    if "value:" in text:
        text = _sub_around(_ENV_YAML_PROBE, _ENV_SECRET_YAML, _yaml_value_sub, text)
    return text


# -- Kubernetes Secrets ---------------------------------------------------------------------

_SECRET_KIND_JSON = re.compile(r'"kind"\s*:\s*"Secret"')
_SECRET_KIND_YAML = re.compile(r"(?m)^[ \t]*(?:-[ \t]+)?kind:[ \t]*[\"']?Secret[\"']?[ \t]*$")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _redact_secret_objects(obj: Any) -> bool:
    """Redact every Secret inside ``obj`` in place (Lists, nested items). True if anything changed."""
    changed = False
    if isinstance(obj, dict):
        if obj.get("kind") == "Secret":
            for field in ("data", "stringData"):
                values = obj.get(field)
                if isinstance(values, dict):
                    for k, v in values.items():
                        if v != MARK:
                            values[k] = MARK
                            changed = True
            annotations = (obj.get("metadata") or {}).get("annotations")
            if isinstance(annotations, dict) and annotations.get(_LAST_APPLIED) not in (None, MARK):
                annotations[_LAST_APPLIED] = MARK
                changed = True
        for v in obj.values():
            changed |= _redact_secret_objects(v)
    elif isinstance(obj, list):
        for v in obj:
            changed |= _redact_secret_objects(v)
    return changed


# Fallback when a text mentions a Secret but does not parse (truncated, mixed with warnings):
# over-redact every data/stringData mapping rather than risk leaking one.
_DATA_BLOCK_JSON = re.compile(r'("(?:data|stringData)"\s*:\s*\{)([^{}]*)(\})')
_JSON_STRING_VALUE = re.compile(r'(:\s*")((?:[^"\\]|\\.)*)(")')
_DATA_BLOCK_YAML = re.compile(r"(?m)^([ \t]*)(?:data|stringData):[ \t]*\r?\n((?:\1[ \t]+[^\r\n]*\r?\n?)*)")
_YAML_ENTRY = re.compile(r"(?m)^([ \t]+[^\s:#][^:\r\n]*:[ \t]+)(?![\"']?\[REDACTED\])(\S[^\r\n]*)$")


def _redact_secrets_text(text: str) -> str:
    if "Secret" not in text:
        return text
    json_hit = _SECRET_KIND_JSON.search(text) is not None
    yaml_hit = not json_hit and _SECRET_KIND_YAML.search(text) is not None
    if not (json_hit or yaml_hit):
        return text
    stripped = text.lstrip()
    if json_hit and stripped[:1] in "{[":
        try:
            obj = json.loads(text)
        except ValueError:
            pass
        else:
            if _redact_secret_objects(obj):
                # kubectl prints JSON with 4-space indents; keep that look.
                return json.dumps(obj, indent=4, ensure_ascii=False) + ("\n" if text.endswith("\n") else "")
            return text
    if yaml_hit:
        try:
            docs = list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))  # noqa: S506
        except yaml.YAMLError:
            pass
        else:
            if any(isinstance(d, (dict, list)) for d in docs):
                changed = False
                for d in docs:
                    changed |= _redact_secret_objects(d)
                if not changed:
                    return text
                return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, width=4096)
    # Unparseable: line/regex based, redacting every data block (ConfigMaps' too).
    text = _DATA_BLOCK_JSON.sub(
        lambda m: m.group(1) + _JSON_STRING_VALUE.sub(_json_value_sub, m.group(2)) + m.group(3), text
    )
    return _DATA_BLOCK_YAML.sub(
        lambda m: m.group(0).replace(m.group(2), _YAML_ENTRY.sub(_yaml_value_sub, m.group(2)), 1), text
    )


# -- entry points ------------------------------------------------------------------------------


def redact(text: str) -> str:
    """``text`` with every credential listed in the module docstring replaced by a marker."""
    if not text:
        return text
    text = _redact_secrets_text(text)
    text = _redact_pem(text)
    text = _redact_b64_pem(text)
    text = _redact_envoy_keys(text)
    return _redact_tokens(text)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """argv with credential flags (``--token X``, ``--token=X``, ``--password X``) redacted."""
    out: list[str] = []
    hide_next = False
    for w in argv:
        if hide_next:
            out.append(MARK)
            hide_next = False
            continue
        name = w.split("=", 1)[0]
        if name in ("--token", "--password", "--client-key-data"):
            if "=" in w:
                out.append(f"{name}={MARK}")
            else:
                out.append(w)
                hide_next = True
            continue
        out.append(redact(w))
    return out


_SECRET_KEY_NAME = re.compile(rf"(?i)^(?:{_SECRET_KEYS})$")


def redact_obj(obj: Any) -> Any:
    """A redacted deep copy of JSON-like data: strings redacted, Secret data and credential keys masked."""
    if isinstance(obj, dict):
        copy = {k: redact_obj(v) for k, v in obj.items()}
        _redact_secret_objects(copy)
        for k, v in copy.items():
            if isinstance(k, str) and _SECRET_KEY_NAME.match(k) and isinstance(v, str) and v:
                copy[k] = MARK
        return copy
    if isinstance(obj, list):
        return [redact_obj(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(redact_obj(v) for v in obj)
    if isinstance(obj, str):
        return redact(obj)
    return obj
