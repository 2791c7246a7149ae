"""Decode an App Attest attestation or assertion object with cbor2 (Debian's
python3-cbor2), a CBOR implementation independent of fxamacker/cbor, and
print its structure as JSON for interop_test.go to compare.

Reads the object's bytes from the file named by argv[1]."""
import io
import json
import sys

import cbor2


def loads_exact(b):
    fp = io.BytesIO(b)
    obj = cbor2.CBORDecoder(fp).decode()
    if fp.tell() != len(b):
        raise ValueError("trailing bytes")
    return obj


def plain(v):
    if isinstance(v, bytes):
        return {"hex": v.hex()}
    if isinstance(v, dict):
        return {"keys": [str(k) for k in v], "items": {str(k): plain(x) for k, x in v.items()}}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


obj = loads_exact(open(sys.argv[1], "rb").read())
out = {"top": plain(obj)}
if isinstance(obj, dict) and "authData" in obj:
    ad = obj["authData"]
    n = int.from_bytes(ad[53:55], "big")
    out["authData"] = {
        "rpIdHash": ad[:32].hex(),
        "flags": ad[32],
        "counter": int.from_bytes(ad[33:37], "big"),
        "aaguid": ad[37:53].hex(),
        "credentialId": ad[55:55 + n].hex(),
        "cose": plain(loads_exact(ad[55 + n:])),
    }
print(json.dumps(out))
