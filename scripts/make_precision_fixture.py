#!/usr/bin/env python3
"""PyTorch's float32 -> bfloat16 rounding of a fixed set of values; writes the fixture the Java rounding is tested on.

    python3 scripts/make_precision_fixture.py [--out src/test/resources/precision/bf16-torch.csv]

Any Python with torch will do (the output does not depend on the version: torch rounds to nearest, ties to even).
Each line: the float32 input's bit pattern and torch.tensor(x).to(torch.bfloat16).float()'s bit pattern, in hex.
The inputs are the special values (zeros, infinities, the largest and smallest normals and subnormals), values
exactly halfway between two bfloat16 numbers with an even and an odd last kept bit, values just either side of
halfway, and random bit patterns of every exponent. NaN inputs are left out: torch returns its own canonical NaN,
and the Java side only promises that a NaN stays a NaN (tested there).
"""

import argparse
import random
import struct

import torch


def bits_to_float(b):
    return struct.unpack("<f", struct.pack("<I", b))[0]


def cases():
    special = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F0000, 0x7F7F7FFF,
               0x7F7F8000, 0x7F7F8001, 0x7F7EFFFF, 0x00800000, 0x00000001, 0x80000001, 0x007FFFFF, 0x00008000,
               0x00018000, 0x00007FFF, 0x00010000, 0x3F800000, 0xBF800000, 0x3F808000, 0x3F818000, 0x3F807FFF,
               0x3F808001, 0x3F81FFFF, 0x3FFFFFFF, 0x3FFF8000, 0x40490FDB, 0xC0490FDB, 0x3DCCCCCD]
    rng = random.Random(20261206)
    for exponent in range(0, 255):
        for _ in range(4):
            sign = rng.randrange(2) << 31
            special.append(sign | exponent << 23 | rng.randrange(1 << 23))
        # exact ties with an even and an odd kept part, at this exponent
        special.append(exponent << 23 | rng.randrange(1 << 6) << 17 | 0x8000)
        special.append(exponent << 23 | (rng.randrange(1 << 6) << 17 | 1 << 16) | 0x8000)
    return special


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="src/test/resources/precision/bf16-torch.csv")
    args = parser.parse_args()
    inputs = cases()
    x = torch.tensor([bits_to_float(b) for b in inputs], dtype=torch.float32)
    rounded = x.to(torch.bfloat16).float()
    out_bits = rounded.view(torch.int32).tolist()
    in_bits = x.view(torch.int32).tolist()
    with open(args.out, "w") as f:
        f.write("# float32 bits,torch bfloat16 rounding as float32 bits (scripts/make_precision_fixture.py)\n")
        for i, o in zip(in_bits, out_bits):
            f.write("%08x,%08x\n" % (i & 0xFFFFFFFF, o & 0xFFFFFFFF))
    print("wrote %d values to %s" % (len(inputs), args.out))


if __name__ == "__main__":
    main()
