"""Independent, deliberately simple reference for RFC 6507 (ECCSI) and RFC 6508 (SAKKE).

Plain ``int``, ``pow`` and ``hashlib`` only; affine arithmetic; no import of prose_mesh.crypto.
It exists to generate the vectors in ``tests/vectors/*.json`` so that the implementation under
test is never its own oracle. Clarity beats speed here.
"""
