"""prose_mesh: an off-network ProSe (PC5 sidelink) mesh emulator.

UE nodes run as Trio tasks in their own network namespaces, exchange PC5-style sidelink frames
over a userspace radio medium, and protect group communication with MIKEY-SAKKE (RFC 6507,
RFC 6508, RFC 6509, 3GPP TS 33.180). See ARCHITECTURE.md in the design folder.
"""

__version__ = "0.1.0"
