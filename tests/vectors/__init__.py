"""Wycheproof-style ECCSI/SAKKE vector suite and its independent pure-Python reference."""
