#!/usr/bin/env python3
"""Independent protobuf oracle for the DoozerWire tests (run by CrossCheckTests.swift).

Builds the doozerd client messages (proto2, package `server`) at run time from a
FileDescriptorProto with Google's `protobuf` package, so no protoc is needed.

  crosscheck.py generate      print Python-encoded messages for Swift to decode
  crosscheck.py reserialize   read Swift-encoded messages on stdin, parse and re-serialise them

Line format (one message per line, `|`-separated):
  generate output:    KIND|payload-hex|fields      KIND: REQ/RESP (canonical encoding: Swift
                      must re-encode the same bytes), REQX/RESPX (decode only: non-canonical
                      input), REQERR/RESPERR (malformed: both sides must reject; no fields)
  reserialize input:  REQ|payload-hex  or  RESP|payload-hex
  reserialize output: reserialised-hex|fields     or  ERR|message
  fields: space-separated name=value in field-number order, absent fields omitted;
          integers in decimal, string and bytes fields as hex of their bytes.
Exit status 3 means the protobuf package is missing.
"""
import random
import sys

try:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError as error:  # pragma: no cover
    sys.stderr.write("crosscheck.py: the Python 'protobuf' package is missing "
                     "(pip install protobuf): %s\n" % error)
    sys.exit(3)

F = descriptor_pb2.FieldDescriptorProto
OPTIONAL = F.LABEL_OPTIONAL

VERBS = [("GET", 1), ("SET", 2), ("DEL", 3), ("REV", 5), ("WAIT", 6), ("NOP", 7), ("WALK", 9),
         ("GETDIR", 14), ("STAT", 16), ("SELF", 20), ("ACCESS", 99),
         ("SNAPSHOT", 200), ("PEER", 201)]
ERRS = [("TAG_IN_USE", 1), ("UNKNOWN_VERB", 2), ("READONLY", 3), ("TOO_LATE", 4),
        ("REV_MISMATCH", 5), ("BAD_PATH", 6), ("MISSING_ARG", 7), ("RANGE", 8), ("OTHER", 127),
        ("NOTDIR", 20), ("ISDIR", 21), ("NOENT", 22)]

REQUEST_FIELDS = [("tag", 1, F.TYPE_INT32, None), ("verb", 2, F.TYPE_ENUM, ".server.Request.Verb"),
                  ("path", 4, F.TYPE_STRING, None), ("value", 5, F.TYPE_BYTES, None),
                  ("other_tag", 6, F.TYPE_INT32, None), ("offset", 7, F.TYPE_INT32, None),
                  ("rev", 9, F.TYPE_INT64, None)]
RESPONSE_FIELDS = [("tag", 1, F.TYPE_INT32, None), ("flags", 2, F.TYPE_INT32, None),
                   ("rev", 3, F.TYPE_INT64, None), ("path", 5, F.TYPE_STRING, None),
                   ("value", 6, F.TYPE_BYTES, None), ("len", 8, F.TYPE_INT32, None),
                   ("err_code", 100, F.TYPE_ENUM, ".server.Response.Err"),
                   ("err_detail", 101, F.TYPE_STRING, None)]


def build_classes():
    fdp = descriptor_pb2.FileDescriptorProto(name="server/msg.proto", package="server",
                                             syntax="proto2")
    for name, fields, enum_name, values in (("Request", REQUEST_FIELDS, "Verb", VERBS),
                                            ("Response", RESPONSE_FIELDS, "Err", ERRS)):
        message = fdp.message_type.add(name=name)
        enum = message.enum_type.add(name=enum_name)
        for value_name, number in values:
            enum.value.add(name=value_name, number=number)
        for field_name, number, field_type, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=field_type,
                                      label=OPTIONAL)
            if type_name:
                field.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    classes = []
    for name in ("server.Request", "server.Response"):
        descriptor = pool.FindMessageTypeByName(name)
        if hasattr(message_factory, "GetMessageClass"):
            classes.append(message_factory.GetMessageClass(descriptor))
        else:  # protobuf < 4.22
            classes.append(message_factory.MessageFactory(pool).GetPrototype(descriptor))
    return classes


Request, Response = build_classes()


def listing(message):
    parts = []
    for field, value in message.ListFields():  # sorted by field number
        if isinstance(value, str):
            value = value.encode("utf-8").hex()
        elif isinstance(value, bytes):
            value = value.hex()
        parts.append("%s=%s" % (field.name, value))
    return " ".join(parts)


# --- raw wire pieces, for inputs the message API cannot produce -----------------------------

def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def key(field, wire_type):
    return varint(field << 3 | wire_type)


def unknown_fields(rng, known):
    """A few unknown fields of every supported wire type, plus known numbers with a wrong
    wire type (which protobuf also treats as unknown)."""
    pieces = [
        key(3, 0) + varint(rng.choice([0, 1, 300, -1])),
        key(8, 2) + varint(3) + b"abc",
        key(15, 5) + bytes(rng.randrange(256) for _ in range(4)),
        key(1000, 1) + bytes(rng.randrange(256) for _ in range(8)),
        key(536870911, 0) + varint(7),          # largest field number
        key(12, 2) + varint(0),
        key(known[0], 2) + varint(2) + b"\x08\x01",   # int field sent as bytes
        key(known[1], 0) + varint(5),                 # string field sent as varint
        key(known[0], 5) + b"\x01\x02\x03\x04",       # int field sent as fixed32
    ]
    rng.shuffle(pieces)
    return pieces[: rng.randrange(1, len(pieces) + 1)]


INT32 = [0, 1, -1, 2, 127, 128, 300, 16383, 16384, 2**31 - 1, -(2**31), -2, -129]
INT64 = [0, -1, -2, -3, 1, 71, 791, 2**31, 2**32 + 5, 2**63 - 1, -(2**63), -(2**40)]
PATHS = ["", "/", "/ctl/name", "/a", "/**", "/ctl/node/*/addr", "/caf\u00e9/\u65e5\u672c", "/x" * 80]


def rand_int32(rng):
    return rng.choice(INT32) if rng.random() < 0.6 else rng.randrange(-(2**31), 2**31)


def rand_int64(rng):
    return rng.choice(INT64) if rng.random() < 0.6 else rng.randrange(-(2**63), 2**63)


def rand_bytes(rng):
    n = rng.choice([0, 0, 1, 2, 5, 127, 128, 200, 1000])
    return bytes(rng.randrange(256) for _ in range(n))


def rand_request(rng):
    m = Request()
    if rng.random() < 0.7: m.tag = rand_int32(rng)
    if rng.random() < 0.7: m.verb = rng.choice(VERBS)[1]
    if rng.random() < 0.6: m.path = rng.choice(PATHS)
    if rng.random() < 0.5: m.value = rand_bytes(rng)
    if rng.random() < 0.3: m.other_tag = rand_int32(rng)
    if rng.random() < 0.4: m.offset = rand_int32(rng)
    if rng.random() < 0.6: m.rev = rand_int64(rng)
    return m


def rand_response(rng):
    m = Response()
    if rng.random() < 0.7: m.tag = rand_int32(rng)
    if rng.random() < 0.4: m.flags = rng.choice([0, 4, 8, 3, -1, rand_int32(rng)])
    if rng.random() < 0.6: m.rev = rand_int64(rng)
    if rng.random() < 0.5: m.path = rng.choice(PATHS)
    if rng.random() < 0.5: m.value = rand_bytes(rng)
    if rng.random() < 0.3: m.len = rand_int32(rng)
    if rng.random() < 0.4: m.err_code = rng.choice(ERRS)[1]
    if rng.random() < 0.3: m.err_detail = rng.choice(["permission denied", "", "invalid glob pattern: /[", "\u00e9"])
    return m


MALFORMED = [
    "08",                            # truncated varint value
    "0880",                          # truncated varint value
    "08ffffffffffffffffffff01",      # 11-byte varint
    "80",                            # truncated key
    "2205616263",                    # length past end
    "22",                            # missing length
    "22ffffffffffffffffff01",        # huge length
    "0e00",                          # wire type 6
    "0f00",                          # wire type 7
    "0d0102",                        # truncated fixed32
    "09010203040506",                # truncated fixed64
    "0801" + "0500",                 # field number 0 after a good field
]

NONCANONICAL = [
    "088100",                        # non-minimal varint 1
    "08ffffffff0f",                  # 5-byte -1 for int32 (truncated to 32 bits)
    "08ffffffffffffffffff7f",        # 10-byte varint with excess high bits
    "0801" "0802" "0803",            # last value wins
    "48ff01" "4801",                 # last value wins for int64
]


def generate():
    rng = random.Random(20240601)
    out = []
    for kind, make, known in (("REQ", rand_request, (1, 4)), ("RESP", rand_response, (1, 5))):
        cls = Request if kind == "REQ" else Response
        out.append("%s|%s|%s" % (kind, "", ""))  # empty message: all absent
        for _ in range(300):
            m = make(rng)
            data = m.SerializeToString()
            out.append("%s|%s|%s" % (kind, data.hex(), listing(m)))
        for _ in range(150):
            pieces = [make(rng).SerializeToString() for _ in range(rng.randrange(1, 3))]
            pieces += unknown_fields(rng, known)
            rng.shuffle(pieces)
            data = b"".join(pieces)
            parsed = cls()
            parsed.ParseFromString(data)
            out.append("%sX|%s|%s" % (kind, data.hex(), listing(parsed)))
        for hexdata in NONCANONICAL:
            parsed = cls()
            parsed.ParseFromString(bytes.fromhex(hexdata))
            out.append("%sX|%s|%s" % (kind, hexdata, listing(parsed)))
        for hexdata in MALFORMED:
            try:
                cls().ParseFromString(bytes.fromhex(hexdata))
            except Exception:
                out.append("%sERR|%s|" % (kind, hexdata))
            else:
                sys.stderr.write("crosscheck.py: protobuf accepted malformed %s\n" % hexdata)
                sys.exit(1)
    print("\n".join(out))


def reserialize():
    out = []
    for line in sys.stdin.read().splitlines():
        if not line:
            continue
        kind, hexdata = line.split("|", 1)
        message = Request() if kind == "REQ" else Response()
        try:
            message.ParseFromString(bytes.fromhex(hexdata))
        except Exception as error:
            out.append("ERR|%s" % str(error).replace("\n", " "))
            continue
        out.append("%s|%s" % (message.SerializeToString().hex(), listing(message)))
    print("\n".join(out))


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "generate":
        generate()
    elif mode == "reserialize":
        reserialize()
    else:
        sys.stderr.write("usage: crosscheck.py generate|reserialize\n")
        sys.exit(2)
