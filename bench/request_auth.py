"""The hub's per-request signature check (``RequestAuthenticator.check``) on its own, on one core.

    .venv/bin/python bench/request_auth.py [--checks 3000] [--rounds 9] [--key-type P-256|Ed25519]
                                           [--profile FILE]

A registry in memory (with its read cache, as the hub runs it) holds one member system with a CA-issued
certificate; ``--checks`` tokens, each with its own ``jti``, are signed before the clock starts and checked
one after another (``check``: every check but the nonce claim, which the hub does in its batch), ``--rounds``
times. Times are the process's CPU time (``time.process_time``), so other jobs on a shared machine
disturb them less than wall time; the figure is the best round. For reference it also times the bare
signature verification in ``cryptography`` (the floor no JWS code can go under) the same way.
``--profile FILE`` writes cProfile stats of the timed rounds to FILE.

The last line is ``µs per check``.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import statistics
import time
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from renkei.registry.auth import RequestAuthenticator, sign_request
from renkei.registry.ca import CertificateAuthority
from renkei.registry.keystore import MemoryAuthorityStore
from renkei.registry.memory import MemoryRegistryRepository, MemoryReplayStore
from renkei.registry.models import KeyType
from renkei.registry.service import Registry
from renkei.spec.loader import load_spec
from renkei.storage.clock import FixedClock

PATH = "/r1/JP/LG/131024/u06/income-certificate"
BODY = b'{"atena_number":"000000000000011","fiscal_year":2025}'
NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--key-type", choices=[k.value for k in KeyType], default=KeyType.P256.value)
    parser.add_argument("--profile", metavar="FILE")
    args = parser.parse_args()
    n: int = args.checks
    key_type = KeyType(args.key_type)

    clock = FixedClock(NOW)
    registry = Registry(
        load_spec(),
        MemoryRegistryRepository(),
        clock,
        authority=CertificateAuthority(MemoryAuthorityStore(), clock),
    )
    registry.add_organisation("LG", "131016", "千代田区")
    client = registry.enrol("JP/LG/131016", 17, key_type=key_type)
    authenticator = RequestAuthenticator(registry, MemoryReplayStore(), clock)
    tokens = [
        sign_request(
            client.private_key_pem,
            client.member.id,
            "POST",
            PATH,
            BODY,
            NOW,
            certificate=client.certificate_pem,
        )
        for _ in range(n)
    ]
    for token in tokens[:200]:  # warm-up: key import, registry cache
        authenticator.check(token, "POST", PATH, BODY)

    # The floor: the bare signature check in cryptography, on the same tokens (inputs prepared untimed).
    public = serialization.load_pem_public_key(client.credential.public_key_pem.encode())
    prepared = []
    for token in tokens:
        signing_input, signature_b64 = token.rsplit(".", 1)
        raw = _b64d(signature_b64)
        if isinstance(public, ec.EllipticCurvePublicKey):
            raw = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        prepared.append((signing_input.encode(), raw))
    es256 = ec.ECDSA(hashes.SHA256())
    floors = []
    for _ in range(args.rounds):
        started = time.process_time()
        for data, sig in prepared:
            if isinstance(public, ec.EllipticCurvePublicKey):
                public.verify(sig, data, es256)
            else:
                assert isinstance(public, ed25519.Ed25519PublicKey)
                public.verify(sig, data)
        floors.append((time.process_time() - started) / n * 1e6)
    floor = min(floors)

    profiler = cProfile.Profile() if args.profile else None
    per_round = []
    for _ in range(args.rounds):
        if profiler is not None:
            profiler.enable()
        started = time.process_time()
        for token in tokens:
            authenticator.check(token, "POST", PATH, BODY)
        per_round.append((time.process_time() - started) / n * 1e6)
        if profiler is not None:
            profiler.disable()
    if profiler is not None and args.profile:
        profiler.dump_stats(args.profile)
        print(f"profile: {args.profile}")

    best = min(per_round)
    print(f"key type {key_type.value}, {n} tokens, {args.rounds} rounds (CPU time, best round)")
    print(f"bare signature verification (cryptography): {floor:.1f} µs")
    print(f"check, per round: {', '.join(f'{r:.1f}' for r in per_round)} µs")
    print(f"check, median round: {statistics.median(per_round):.1f} µs")
    print(f"above the bare verification: {best - floor:.1f} µs")
    print(f"{best:.1f} µs per check")


if __name__ == "__main__":
    main()
