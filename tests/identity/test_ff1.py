"""FF1: the NIST SP 800-38G samples, the batch path against the reference, and the permutation property."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renkei.identity.errors import CipherDomainError
from renkei.identity.ff1 import FF1

K128 = "2B7E151628AED2A6ABF7158809CF4F3C"
K192 = K128 + "EF4359D8D580AA4F"
K256 = K192 + "7F036D6F04FC6A94"
T10 = "39383736353433323130"
T11 = "3737373770717273373737"

# NIST SP 800-38G FF1 samples 1–9 (FF1samples.pdf), as reproduced by BouncyCastle's SP80038GTest and others.
NIST_SAMPLES = [
    (K128, "", 10, "0123456789", "2433477484"),
    (K128, T10, 10, "0123456789", "6124200773"),
    (K128, T11, 36, "0123456789abcdefghi", "a9tv40mll9kdu509eum"),
    (K192, "", 10, "0123456789", "2830668132"),
    (K192, T10, 10, "0123456789", "2496655549"),
    (K192, T11, 36, "0123456789abcdefghi", "xbj3kv35jrawxv32ysr"),
    (K256, "", 10, "0123456789", "6657667009"),
    (K256, T10, 10, "0123456789", "1001623463"),
    (K256, T11, 36, "0123456789abcdefghi", "xs8a0azh2avyalyzuwd"),
]
KEY = bytes(range(32))


@pytest.mark.parametrize(
    ("key", "tweak", "radix", "plain", "cipher"), NIST_SAMPLES, ids=[f"sample-{i}" for i in range(1, 10)]
)
def test_nist_samples(key: str, tweak: str, radix: int, plain: str, cipher: str) -> None:
    ff1 = FF1(bytes.fromhex(key), radix)
    assert ff1.encrypt(plain, bytes.fromhex(tweak)) == cipher
    assert ff1.decrypt(cipher, bytes.fromhex(tweak)) == plain


@pytest.mark.parametrize(
    ("key", "tweak", "radix", "plain", "cipher"),
    [s for s in NIST_SAMPLES if s[2] == 10],
    ids=["1", "2", "4", "5", "7", "8"],
)
def test_nist_samples_through_the_batch_path(
    key: str, tweak: str, radix: int, plain: str, cipher: str
) -> None:
    ff1 = FF1(bytes.fromhex(key), radix)
    values = np.array([int(plain)], dtype=np.uint64)
    encrypted = ff1.encrypt_decimal_batch(values, len(plain), bytes.fromhex(tweak))
    assert f"{int(encrypted[0]):0{len(plain)}d}" == cipher
    assert int(ff1.decrypt_decimal_batch(encrypted, len(plain), bytes.fromhex(tweak))[0]) == int(plain)


@pytest.mark.parametrize(("radix", "length"), [(10, 2), (10, 3), (10, 4), (2, 7), (36, 2)])
def test_small_domains_are_permuted(radix: int, length: int) -> None:
    ff1 = FF1(KEY, radix, allow_small_domain=True)
    size = radix**length
    image = [ff1.encrypt_int(x, length, b"t") for x in range(size)]
    assert sorted(image) == list(range(size))
    assert image != list(range(size))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(6, 18).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, 10**n - 1))),
    st.binary(max_size=40),
)
def test_decrypt_inverts_encrypt_on_both_paths(case: tuple[int, int], tweak: bytes) -> None:
    length, value = case
    ff1 = FF1(KEY)
    encrypted = ff1.encrypt_int(value, length, tweak)
    assert ff1.decrypt_int(encrypted, length, tweak) == value
    batch = ff1.encrypt_decimal_batch(np.array([value], dtype=np.uint64), length, tweak)
    assert int(batch[0]) == encrypted
    assert int(ff1.decrypt_decimal_batch(batch, length, tweak)[0]) == value


def test_batch_matches_reference_on_many_values() -> None:
    ff1 = FF1(KEY)
    values = (np.arange(3000, dtype=np.uint64) * np.uint64(33_333_331)) % np.uint64(10**11)
    batch = ff1.encrypt_decimal_batch(values, 11, b"renkei")
    assert [int(x) for x in batch] == [ff1.encrypt_int(int(x), 11, b"renkei") for x in values]
    assert (ff1.decrypt_decimal_batch(batch, 11, b"renkei") == values).all()


def test_domain_errors() -> None:
    with pytest.raises(CipherDomainError):
        FF1(b"short")
    with pytest.raises(CipherDomainError):
        FF1(KEY, 37)
    with pytest.raises(CipherDomainError, match="at least 6"):
        FF1(KEY).encrypt("12345")
    with pytest.raises(CipherDomainError):
        FF1(KEY).encrypt("12345a")
    with pytest.raises(CipherDomainError):
        FF1(KEY).encrypt_decimal_batch(np.array([10**11], dtype=np.uint64), 11)
    with pytest.raises(CipherDomainError):
        FF1(KEY, 36).encrypt_decimal_batch(np.array([1], dtype=np.uint64), 11)
    with pytest.raises(CipherDomainError):
        FF1(KEY).encrypt("123456", b"x" * 257)
