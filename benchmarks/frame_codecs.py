"""Frame codecs on the frames a trained lifelong agent sees: is the code big enough?

Restores a lifelong run's last checkpoint (its Q-network, and its codec when it
stores recollections), plays greedy episodes (epsilon 0.01, like the evaluation)
of every game of its cycle, and reports each codec's frame error on every 4th
frame: the mean number of wrong pixels of a frame after encoding and decoding
(rounded to {0, 1}). The codecs are pretrained files (`runners.pretrain_frames`),
unchanged, and the run's own codec as its checkpoint left it. A larger code at the
same bytes holds fewer transitions; this says what it buys in reconstruction.

Usage (from the repository root, after the run):
    python -m benchmarks.frame_codecs --workdir=runs/pair_pre40 --seed=0 \
        --codecs=codecs/minatar_pair_40x4.npz,codecs/minatar_pair_80x4.npz
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from agents.experiment import SeedState
from agents.lifelong import envs, phases, pretrain_frames
from agents.lifelong.config import CodecConfig, LifelongConfig
from agents.lifelong.dqn import DQNAgent
from agents.lifelong.recollection_transitions import build_frame_codec
from recollect import pretrained_codec

EVAL_EPSILON = 0.01


def agent_frames(
    agent: DQNAgent, games: list[envs.Game], *, seed: int, episodes: int, max_steps: int
) -> dict[str, np.ndarray]:
    """Every 4th frame of `episodes` greedy episodes per game: name -> uint8 [n, H, W, C]."""
    out = {}
    for game_id, game in enumerate(games):
        frames = []
        for episode in range(episodes):
            obs = game.reset(phases.episode_seed(seed, 10_000, episode, evaluation=True))
            for _ in range(max_steps):
                action = agent.act(obs[None], np.array([game_id], np.int32), EVAL_EPSILON)
                obs, _, terminated, truncated = game.step(int(action[0]))
                frames.append(obs)
                if terminated or truncated:
                    break
        out[game.name] = np.stack(frames[:: phases.FRAME_ERROR_STRIDE])
    return out


def pretrained_codec_errors(path: str, frames: dict[str, np.ndarray]) -> dict:
    """A pretrained codec file's settings and its frame error on each game's frames."""
    written = pretrained_codec.PretrainedCodec.read(path)
    settings = written.codec
    config = CodecConfig(
        num_latents=settings["num_latents"],
        num_categories=settings["num_categories"],
        codec=settings["architecture"],
        codec_units=settings["hidden_units" if settings["architecture"] == "mlp" else "filters"],
    )
    codec = build_frame_codec(config, tuple(settings["input_shape"]), 0)
    written.load_into(codec)
    errors = {g: pretrain_frames.frame_error(codec, x, binary=True) for g, x in frames.items()}
    return {"bits_per_frame": settings["bits_per_item"], "errors": errors}


def main() -> None:
    """Prints one markdown row per codec and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--codecs", default="")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--max_steps", type=int, default=1000)
    parser.add_argument("--output", default="frame_codecs.json")
    args = parser.parse_args()
    with open(os.path.join(args.workdir, "config.json"), encoding="utf-8") as f:
        config = LifelongConfig(**json.load(f))
    games = envs.make_games(config.games)
    agent = phases.make_agent(config, games, args.seed)
    directory = os.path.join(args.workdir, f"seed_{args.seed}")
    if not SeedState(directory, agent, phases.LifelongProgress).restore():
        raise SystemExit(f"error: expected a checkpoint in {directory}")
    frames = agent_frames(
        agent, games, seed=args.seed, episodes=args.episodes, max_steps=args.max_steps
    )
    rows = {p: pretrained_codec_errors(p, frames) for p in args.codecs.split(",") if p}
    if config.storage == "recollections":
        errors = {g: agent.store.frame_error(x) for g, x in frames.items()}
        own = {"bits_per_frame": agent.store.bits_per_frame, "errors": errors}
        rows[f"the run's codec ({args.workdir}, seed {args.seed})"] = own
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump({"frames": {g: len(x) for g, x in frames.items()}, "rows": rows}, f, indent=2)
    names = list(frames)
    print("| codec | bits a frame | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for name, row in rows.items():
        cells = " | ".join(f"{row['errors'][g]:.2f}" for g in names)
        print(f"| {name} | {row['bits_per_frame']} | {cells} |")
    print(f"\nFrames per game: {', '.join(f'{g} {len(x)}' for g, x in frames.items())}")


if __name__ == "__main__":
    main()
