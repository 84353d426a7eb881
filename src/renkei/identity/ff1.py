"""NIST SP 800-38G FF1 format-preserving encryption on AES (``cryptography``).

Two paths compute the same permutation:

* :class:`FF1` — the reference algorithm, one numeral string at a time, any radix 2–36 and any tweak.
* :meth:`FF1.encrypt_decimal_batch` / :meth:`FF1.decrypt_decimal_batch` — radix 10, 6–18 digits, many
  values at once. FF1's PRF is a CBC-MAC over ``P || Q``; everything except the last block of ``Q``
  (round number and ``NUM(B)``) is the same for every input of a round, so the MAC state before that block
  is computed once per round and each round then costs one AES block per input: a single ECB call over a
  concatenated buffer. With ``b ≤ 4`` bytes, ``d = 8``: ``y`` is one unsigned 64-bit integer and all the
  modular arithmetic stays in NumPy ``uint64``, with no Python integers per value.

The batch path is checked against the reference path in the tests (and both against the NIST samples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from renkei.identity.errors import CipherDomainError

ROUNDS = 10
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
MIN_DOMAIN = 1_000_000
"""SP 800-38G Rev. 1: radix^minlen ≥ 1,000,000."""
SMALL_DOMAIN = 100
"""The original SP 800-38G bound, accepted only with ``allow_small_domain`` (tests of the permutation)."""
MAX_TWEAK = 256

U64 = npt.NDArray[np.uint64]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class FF1:
    """FF1 with one AES key (16, 24 or 32 bytes) and one radix; the tweak is given per call.

    Instances hold an AES context and no per-call state; use one per thread.
    """

    def __init__(self, key: bytes, radix: int = 10, *, allow_small_domain: bool = False) -> None:
        if len(key) not in (16, 24, 32):
            raise CipherDomainError(f"an AES key has 16, 24 or 32 bytes, not {len(key)}")
        if not 2 <= radix <= len(ALPHABET):
            raise CipherDomainError(f"radix must be between 2 and {len(ALPHABET)}, not {radix}")
        self._radix = radix
        self._cipher = Cipher(algorithms.AES(key), modes.ECB())
        self._ecb: CipherContext = self._cipher.encryptor()
        bound = SMALL_DOMAIN if allow_small_domain else MIN_DOMAIN
        self._min_len = max(2, math.ceil(math.log(bound, radix) - 1e-12))

    @property
    def radix(self) -> int:
        return self._radix

    # --- the reference algorithm (SP 800-38G §6.2, Algorithms 7 and 8) ---

    def encrypt(self, text: str, tweak: bytes = b"") -> str:
        """FF1.Encrypt(K, T, X) of the numeral string ``text`` (digits of ``ALPHABET[:radix]``)."""
        return self._format(self._feistel(self._parse(text), tweak, decrypt=False))

    def decrypt(self, text: str, tweak: bytes = b"") -> str:
        """FF1.Decrypt(K, T, X): the inverse of :meth:`encrypt`."""
        return self._format(self._feistel(self._parse(text), tweak, decrypt=True))

    def encrypt_int(self, value: int, length: int, tweak: bytes = b"") -> int:
        """Encrypt ``value`` written as ``length`` numerals (leading zeros kept)."""
        return self._number(self._feistel(self._numerals(value, length), tweak, decrypt=False))

    def decrypt_int(self, value: int, length: int, tweak: bytes = b"") -> int:
        """The inverse of :meth:`encrypt_int`."""
        return self._number(self._feistel(self._numerals(value, length), tweak, decrypt=True))

    def _parse(self, text: str) -> list[int]:
        digits = ALPHABET[: self._radix]
        numerals: list[int] = []
        for char in text.lower():
            index = digits.find(char)
            if index < 0:
                raise CipherDomainError(
                    f"a numeral of radix {self._radix} was expected", position=len(numerals)
                )
            numerals.append(index)
        return numerals

    def _format(self, numerals: Sequence[int]) -> str:
        return "".join(ALPHABET[x] for x in numerals)

    def _numerals(self, value: int, length: int) -> list[int]:
        if not 0 <= value < self._radix**length:
            raise CipherDomainError(f"value out of the domain of {length} numerals of radix {self._radix}")
        out = [0] * length
        for i in range(length - 1, -1, -1):
            value, out[i] = divmod(value, self._radix)
        return out

    def _number(self, numerals: Sequence[int]) -> int:
        total = 0
        for x in numerals:
            total = total * self._radix + x
        return total

    def _check(self, n: int, tweak: bytes) -> None:
        if n < self._min_len:
            raise CipherDomainError(f"FF1 needs at least {self._min_len} numerals of radix {self._radix}")
        if n > 2**16:
            raise CipherDomainError("FF1 input too long")
        if len(tweak) > MAX_TWEAK:
            raise CipherDomainError(f"tweak longer than {MAX_TWEAK} bytes")

    def _p_block(self, n: int, u: int, t: int) -> bytes:
        return (
            bytes([1, 2, 1])
            + self._radix.to_bytes(3, "big")
            + bytes([10, u % 256])
            + n.to_bytes(4, "big")
            + t.to_bytes(4, "big")
        )

    def _aes(self, block: bytes) -> bytes:
        return self._ecb.update(block)

    def _prf(self, data: bytes) -> bytes:
        state = bytes(16)
        for offset in range(0, len(data), 16):
            block = data[offset : offset + 16]
            state = self._aes(bytes(a ^ b for a, b in zip(state, block, strict=True)))
        return state

    def _feistel(self, x: list[int], tweak: bytes, *, decrypt: bool) -> list[int]:
        n = len(x)
        self._check(n, tweak)
        radix = self._radix
        u, v = n // 2, n - n // 2
        a, b = x[:u], x[u:]
        t = len(tweak)
        nbytes = _ceil_div(math.ceil(v * math.log2(radix) - 1e-12), 8)
        d = 4 * _ceil_div(nbytes, 4) + 4
        p = self._p_block(n, u, t)
        pad = bytes((-t - nbytes - 1) % 16)
        for i in range(ROUNDS - 1, -1, -1) if decrypt else range(ROUNDS):
            m = u if i % 2 == 0 else v
            # Encryption feeds B to the PRF, decryption A (Algorithm 7 / 8, step 6).
            q = tweak + pad + bytes([i]) + self._number(a if decrypt else b).to_bytes(nbytes, "big")
            r = self._prf(p + q)
            s = r
            for j in range(1, _ceil_div(d, 16)):
                s += self._aes(bytes(ri ^ jj for ri, jj in zip(r, j.to_bytes(16, "big"), strict=True)))
            y = int.from_bytes(s[:d], "big")
            if decrypt:
                c = (self._number(b) - y) % radix**m
                a, b = self._numerals(c, m), a
            else:
                c = (self._number(a) + y) % radix**m
                a, b = b, self._numerals(c, m)
        return a + b

    # --- the batch path: radix 10, many values ---

    def _batch_layout(self, n: int, tweak: bytes) -> tuple[int, int, int, list[bytes]]:
        if self._radix != 10:
            raise CipherDomainError("the batch path is for radix 10 only")
        if not 6 <= n <= 18:
            raise CipherDomainError("the batch path takes 6 to 18 decimal digits")
        self._check(n, tweak)
        u, v = n // 2, n - n // 2
        nbytes = _ceil_div(math.ceil(v * math.log2(10)), 8)  # ≤ 4 for v ≤ 9, so d = 8
        t = len(tweak)
        q_prefix = tweak + bytes((-t - nbytes - 1) % 16)
        head = self._p_block(n, u, t) + q_prefix[: len(q_prefix) - (16 - 1 - nbytes)]
        tail = q_prefix[len(q_prefix) - (16 - 1 - nbytes) :]
        state = self._prf(head)
        # The last block of Q is tail || [i] || NUM(B); pre-XOR the constant part into the MAC state.
        states = [
            bytes(s ^ c for s, c in zip(state, tail + bytes([i]) + bytes(nbytes), strict=True))
            for i in range(ROUNDS)
        ]
        return u, v, nbytes, states

    def _round_y(self, state: bytes, half: U64, nbytes: int) -> U64:
        count = half.shape[0]
        blocks = np.empty((count, 16), dtype=np.uint8)
        blocks[:] = np.frombuffer(state, dtype=np.uint8)
        for k in range(nbytes):
            shift = np.uint64(8 * (nbytes - 1 - k))
            blocks[:, 16 - nbytes + k] ^= ((half >> shift) & np.uint64(0xFF)).astype(np.uint8)
        out = self._ecb.update(blocks.tobytes())
        # y = NUM(S) with S the first d = 8 bytes of R: one big-endian uint64 per value.
        return np.frombuffer(out, dtype=">u8")[::2].astype(np.uint64)

    def encrypt_decimal_batch(self, values: U64, length: int, tweak: bytes = b"") -> U64:
        """FF1-encrypt every value of ``values`` (each < 10**length) as a ``length``-digit decimal string."""
        u, v, nbytes, states = self._batch_layout(length, tweak)
        mod_u, mod_v = np.uint64(10**u), np.uint64(10**v)
        values = np.asarray(values, dtype=np.uint64)
        if values.size and int(values.max()) >= 10**length:
            raise CipherDomainError(f"value out of the domain of {length} decimal digits")
        a, b = values // mod_v, values % mod_v
        for i in range(ROUNDS):
            modulus = mod_u if i % 2 == 0 else mod_v
            y = self._round_y(states[i], b, nbytes)
            c = (a + y % modulus) % modulus
            a, b = b, c
        return a * mod_v + b

    def decrypt_decimal_batch(self, values: U64, length: int, tweak: bytes = b"") -> U64:
        """The inverse of :meth:`encrypt_decimal_batch`."""
        u, v, nbytes, states = self._batch_layout(length, tweak)
        mod_u, mod_v = np.uint64(10**u), np.uint64(10**v)
        values = np.asarray(values, dtype=np.uint64)
        if values.size and int(values.max()) >= 10**length:
            raise CipherDomainError(f"value out of the domain of {length} decimal digits")
        a, b = values // mod_v, values % mod_v
        for i in range(ROUNDS - 1, -1, -1):
            modulus = mod_u if i % 2 == 0 else mod_v
            y = self._round_y(states[i], a, nbytes)
            c = (b + modulus - y % modulus) % modulus
            b, a = a, c
        return a * mod_v + b
