"""Bits per stored frame: raw, lossless (np.packbits, zstd) and recollection codes.

Collects frames of every game of a cycle with a random policy (the frames an agent
sees first), then reports, per game and over all of them:

- raw: uint8 (8 bits a value) and bit-packed (1 bit a value, binary frames only);
- lossless: zstd (level 19) of each frame alone, of its packed bits alone, and of
  the whole collection at once (the best case for a buffer compressed in blocks);
- recollections: k = c * ceil(log2 l) bits, the code shape of the flags given;
- how many transitions (two frames and 16 bytes of side fields) each storage
  holds at --memory_bytes, where per-frame coding allows random access.

With --stored_frames=newest a frame is the newest of each observation's stack
(what `--stored_frames=newest` stores: one 84x84 Atari frame a step, the stacks
rebuilt when sampled; 4 more bytes a transition for its age in the episode).

Usage (from the repository root):
    python -m benchmarks.frame_bits [--games breakout,freeway] [--frames 2000]
        [--num_latents 40 --num_categories 4] [--memory_bytes 1000000] [--output bits.json]
        [--stored_frames newest]
"""

from __future__ import annotations

import argparse
import json
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import zstandard

from agents.lifelong import envs, frame_stacks, replay
from recollect import bits

LEVEL = 19


def collect(game: envs.Game, frames: int, seed: int = 0) -> np.ndarray:
    """uint8 [frames, H, W, C]: a random policy's frames, over as many episodes as needed."""
    rng = np.random.default_rng(seed)
    out = [game.reset(seed)]
    episode = 0
    while len(out) < frames:
        frame, _, terminated, truncated = game.step(int(rng.integers(game.num_actions)))
        out.append(frame)
        if terminated or truncated:
            episode += 1
            out.append(game.reset(seed + episode))
    return np.stack(out[:frames])


def frame_bits(frames: np.ndarray, binary: bool) -> dict[str, float]:
    """Mean bits per frame of each raw and lossless coding of frames uint8 [N, ...]."""
    compressor = zstandard.ZstdCompressor(level=LEVEL)
    values = math.prod(frames.shape[1:])
    flat = frames.reshape(len(frames), values)
    row: dict[str, float] = {"uint8": 8.0 * values}
    row["zstd_uint8_per_frame"] = 8.0 * np.mean(
        [len(compressor.compress(f.tobytes())) for f in flat]
    )
    row["zstd_uint8_whole"] = 8.0 * len(compressor.compress(flat.tobytes())) / len(flat)
    if binary:
        packed = np.packbits(flat, axis=1)
        row["packbits"] = 8.0 * packed.shape[1]
        row["zstd_packbits_per_frame"] = 8.0 * np.mean(
            [len(compressor.compress(p.tobytes())) for p in packed]
        )
        row["zstd_packbits_whole"] = 8.0 * len(compressor.compress(packed.tobytes())) / len(flat)
    return row


def transitions_held(bits_per_frame: float, memory_bytes: int, extra_bytes: int = 0) -> int:
    """Transitions of two frames (ceil to bytes), the side fields and extra_bytes."""
    per_item = 2 * math.ceil(bits_per_frame / 8) + replay.SIDE_BYTES + extra_bytes
    return int(memory_bytes // per_item)


def main() -> None:
    """Prints the markdown table and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", default=",".join(envs.known_games()))
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--num_latents", type=int, default=40)
    parser.add_argument("--num_categories", type=int, default=4)
    parser.add_argument("--memory_bytes", type=int, default=1_000_000)
    parser.add_argument("--output", default="frame_bits.json")
    parser.add_argument("--stored_frames", choices=["observation", "newest"], default="observation")
    args = parser.parse_args()
    games = envs.make_games(args.games.split(","))
    newest = args.stored_frames == "newest"
    collected = {g.name: collect(g, args.frames) for g in games}
    if newest:
        collected = {name: f[..., -1:] for name, f in collected.items()}
    binary = all(g.binary for g in games)
    rows = {name: frame_bits(f, binary) for name, f in collected.items()}
    rows["all games"] = frame_bits(np.concatenate(list(collected.values())), binary)
    code = bits.bits_per_item(args.num_latents, args.num_categories)
    for row in rows.values():
        row["recollection_code"] = float(code)
    extra = frame_stacks.AGE_BYTES if newest else 0
    held = {k: transitions_held(v, args.memory_bytes, extra) for k, v in rows["all games"].items()}
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(
            {"bits_per_frame": rows, "transitions_held": held, "args": vars(args)}, f, indent=2
        )
    columns = list(rows["all games"])
    print("| game | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(f"{row[c]:,.0f}" for c in columns) + " |")
    print(f"| transitions held at {args.memory_bytes:,} bytes | "
          + " | ".join(f"{held[c]:,}" for c in columns) + " |")  # fmt: skip
    for game in games:
        game.close()


if __name__ == "__main__":
    main()
