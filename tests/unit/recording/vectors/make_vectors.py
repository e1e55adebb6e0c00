#!/usr/bin/env python3
"""Independent reference encoder for docs/file-format.md (python3-cryptography).

Reads vectors.txt next to this file and writes each vector's `expected` file.
Run it only when the format changes on purpose; the C++ tests compare against
its output byte for byte.
"""
import hashlib
import pathlib
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = pathlib.Path(__file__).resolve().parent


def encrypt(plaintext, context_id, chunk_size, data_key, salt):
    ctx = context_id.encode("ascii")
    header = b"KMSENC\x00" + bytes([1, len(ctx)]) + ctx + struct.pack(">I", chunk_size) + salt
    file_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
                    info=b"kmsd recording v1" + header).derive(data_key)
    aead = AESGCM(file_key)
    chunks = [plaintext[i:i + chunk_size] for i in range(0, len(plaintext), chunk_size)] or [b""]
    out = bytearray(header)
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        nonce = struct.pack(">Q", index) + b"\x00\x00\x00" + bytes([1 if last else 0])
        out += aead.encrypt(nonce, chunk, header)
    return bytes(out)


def main():
    blocks = (HERE / "vectors.txt").read_text().split("\n\n")
    for block in blocks:
        fields = dict(line.split(" = ", 1) for line in block.splitlines()
                      if line and not line.startswith("#"))
        if not fields:
            continue
        plaintext = (HERE / fields["plaintext"]).read_bytes()
        out = encrypt(plaintext, fields["context_id"], int(fields["chunk_size"]),
                      bytes.fromhex(fields["data_key"]), bytes.fromhex(fields["salt"]))
        (HERE / fields["expected"]).write_bytes(out)
        print(fields["name"], len(out), hashlib.sha256(out).hexdigest())


if __name__ == "__main__":
    main()
