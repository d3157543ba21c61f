# Local stub for the part of dnslib rblmirror uses (dnslib ships no types). Extend it when
# the code uses more: mypy then checks those uses as well.
from collections.abc import Sequence
from typing import Any

class DNSError(Exception): ...

class Bimap:
    """QTYPE, CLASS, RCODE: QTYPE.A == 1, QTYPE[1] == QTYPE.get(1) == "A"."""
    name: str
    forward: dict[int, str]
    reverse: dict[str, int]
    def get(self, k: int, default: str | None = ...) -> str: ...
    def __getitem__(self, k: int) -> str: ...
    def __getattr__(self, k: str) -> int: ...

QTYPE: Bimap
CLASS: Bimap
RCODE: Bimap
OPCODE: Bimap

class DNSLabel:
    label: tuple[bytes, ...]
    def __init__(self, label: DNSLabel | str | bytes | Sequence[bytes] | None) -> None: ...
    def idna(self) -> str: ...

_Name = DNSLabel | str | bytes | Sequence[bytes]

class DNSHeader:
    id: int
    bitmap: int
    q: int
    a: int
    auth: int
    ar: int
    qr: int
    opcode: int
    aa: int
    tc: int
    rd: int
    ra: int
    z: int
    ad: int
    cd: int
    rcode: int
    def __init__(self, id: int | None = ..., bitmap: int | None = ..., q: int = ..., a: int = ...,
                 auth: int = ..., ar: int = ..., *, qr: int = ..., opcode: int = ...,
                 aa: int = ..., tc: int = ..., rd: int = ..., ra: int = ..., z: int = ...,
                 ad: int = ..., cd: int = ..., rcode: int = ...) -> None: ...

class DNSQuestion:
    qname: DNSLabel
    qtype: int
    qclass: int
    def __init__(self, qname: _Name | None = ..., qtype: int = ..., qclass: int = ...) -> None: ...

class RD:
    # what `data` holds depends on the record type (bytes for a type dnslib does not know;
    # the subclasses below say theirs): dnslib types it by the runtime class only
    data: Any
    def __init__(self, data: bytes = ...) -> None: ...
    def pack(self, buffer: object) -> None: ...

class A(RD):
    data: tuple[int, int, int, int]
    def __init__(self, data: str | Sequence[int]) -> None: ...

class AAAA(RD):
    data: tuple[int, ...]
    def __init__(self, data: str | Sequence[int]) -> None: ...

class TXT(RD):
    data: list[bytes]
    def __init__(self, data: str | bytes | Sequence[str | bytes]) -> None: ...

class CNAME(RD):
    label: DNSLabel
    def __init__(self, label: _Name | None = ...) -> None: ...

class NS(CNAME): ...
class PTR(CNAME): ...

class SOA(RD):
    mname: DNSLabel
    rname: DNSLabel
    times: tuple[int, int, int, int, int]
    def __init__(self, mname: _Name | None = ..., rname: _Name | None = ...,
                 times: Sequence[int] | None = ...) -> None: ...

class RR:
    rname: DNSLabel
    rtype: int
    rclass: int
    ttl: int
    rdata: RD
    def __init__(self, rname: _Name | None = ..., rtype: int = ..., rclass: int = ...,
                 ttl: int = ..., rdata: RD | None = ...) -> None: ...

class EDNSOption:
    code: int
    data: bytes
    def __init__(self, code: int, data: bytes) -> None: ...

class EDNS0(RR):
    def __init__(self, rname: _Name | None = ..., rtype: int = ..., ext_rcode: int = ...,
                 version: int = ..., flags: str = ..., udp_len: int = ...,
                 opts: list[EDNSOption] | None = ...) -> None: ...

class DNSRecord:
    header: DNSHeader
    questions: list[DNSQuestion]
    rr: list[RR]
    auth: list[RR]
    ar: list[RR]
    @property
    def q(self) -> DNSQuestion: ...  # the first question
    @property
    def a(self) -> RR: ...  # the first answer
    def __init__(self, header: DNSHeader | None = ..., questions: list[DNSQuestion] | None = ...,
                 rr: list[RR] | None = ..., q: DNSQuestion | None = ..., a: RR | None = ...,
                 auth: list[RR] | None = ..., ar: list[RR] | None = ...) -> None: ...
    @classmethod
    def parse(cls, packet: bytes) -> DNSRecord: ...
    @classmethod
    def question(cls, qname: _Name, qtype: str = ..., qclass: str = ...) -> DNSRecord: ...
    def reply(self, ra: int = ..., aa: int = ...) -> DNSRecord: ...
    def add_question(self, *q: DNSQuestion) -> None: ...
    def add_answer(self, *rr: RR) -> None: ...
    def add_auth(self, *auth: RR) -> None: ...
    def add_ar(self, *ar: RR) -> None: ...
    def pack(self) -> bytes: ...
    def send(self, dest: str, port: int = ..., tcp: bool = ..., timeout: float | None = ...,
             ipv6: bool = ...) -> bytes: ...
