"""prose_mesh.crypto: identity-based crypto of MIKEY-SAKKE (see ARCHITECTURE.md, decision 7).

* :mod:`.eccsi` RFC 6507 signatures; :mod:`.sakke` RFC 6508 key encapsulation (RFC 6509
  parameter set 1) on :mod:`.sakke_params` and :mod:`.pairing`; :mod:`.p256` and :mod:`._ecc`
  curve arithmetic on gmpy2.
* :mod:`.identity` RFC 6509 / TS 33.180 F.2.1 identities; :mod:`.kms` KMS and UE key files;
  :mod:`.kdf` TS 33.220 KDF, MIKEY PRF and GUK-IDs.

Pure functions, no I/O except the key-file helpers. Python big integers are not constant-time.
"""
