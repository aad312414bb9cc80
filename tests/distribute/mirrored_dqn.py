"""The lifelong DQN learner on two logical CPUs against one device, and a tiny run.

Run as a script (`python -m tests.distribute.mirrored_dqn OUT_DIR`) by
`tests/distribute/test_mirrored_dqn.py` (logical devices must be set before
TensorFlow starts). Writes OUT_DIR/out.json:

- steps: for each store, agents made with the same seed on one device and under
  MirroredStrategy take the same transitions; their losses, Q-network, target
  and codec weights, store sizes and actions after every step;
- runs: a tiny lifelong run under the strategy, whole, stopped twice and
  resumed, on one device, and stopped under the strategy then resumed on one;
- refused: what an agent whose batch the replicas cannot share raised.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import tensorflow as tf

STEPS = 12
LEARN_FROM = 4  # steps that only observe, so that every store has rows to draw


def stores_compared(strategy: tf.distribute.Strategy) -> dict:
    from agents import lifelong
    from agents.lifelong import envs, phases
    from tests.agents import tiny_envs
    from tests.agents.test_lifelong import FAST_AGENT, FAST_CODEC

    out = {}
    cases = {  # name: (codec settings, agent settings)
        "real": ({}, {}),
        # A norm every step's gradients exceed: clipped after the all-reduce, as on one device.
        "real_clipped": ({}, {"gradient_clip_norm": 1e-3}),
        "recollections": ({}, {}),
        "recollections_ring": ({"recent_transitions": 6}, {}),
        "recollections_decoder_fixed": (
            {"recent_transitions": 6, "codec_decoder_steps": 3},
            {},
        ),
    }
    for name, (codec, agent_settings) in cases.items():
        config = lifelong.LifelongConfig(
            games=(tiny_envs.CUE, tiny_envs.SWAP),
            storage="real" if name.startswith("real") else "recollections",
            memory_bytes=4000,
            agent={**FAST_AGENT, "batch_size": 8, "target_update_period": 5, **agent_settings},
            codec={**FAST_CODEC, **codec},
        )
        games = envs.make_games(config.games)
        agents = {
            "mirrored": phases.make_agent(config, games, 0, strategy),
            "single": phases.make_agent(config, games, 0, None),
        }
        rng = np.random.default_rng(3)
        record: dict = {"loss": {k: [] for k in agents}, "action": {k: [] for k in agents}}
        for step in range(STEPS):
            cue = rng.integers(0, 2, 1)
            frame = np.zeros((1, 4, 4, 2), np.uint8)
            frame[..., int(cue[0])] = 1
            transition = {
                "obs": frame,
                "next_obs": frame[:, ::-1],
                "action": rng.integers(0, 2, 1).astype(np.int32),
                "reward": rng.random(1).astype(np.float32),
                "discount": np.ones(1, np.float32),
                "game": np.array([step // 6], np.int32),
                "age": np.zeros(1, np.int32),
            }
            for key, agent in agents.items():
                result = agent.step(
                    transition, tf.constant(0.3, tf.float32), tf.constant(step >= LEARN_FROM)
                )
                record["loss"][key].append(float(result["loss"]))
                record["action"][key].append(int(result["action"][0]))
        mirrored, single = agents["mirrored"], agents["single"]

        record.update(
            q=pairs(mirrored, single, "q"),
            target=pairs(mirrored, single, "target"),
            codec=[] if name.startswith("real") else pairs(mirrored, single, "codec"),
            sizes=[int(mirrored.store.size()), int(single.store.size())],
            learn_steps=[int(mirrored.learn_steps), int(single.learn_steps)],
            q_replicas_equal=all(
                all(np.array_equal(p, parts[0]) for p in parts)
                for parts in (
                    [t.numpy() for t in strategy.experimental_local_results(w.value)]
                    for w in mirrored.q_network.weights
                )
            ),
        )
        out[name] = record
        for game in games:
            game.close()
    return out


def weights_of(agent: object, weights: str) -> list:
    """An agent's Q-network, target network or codec weights, as numpy arrays."""
    if weights == "codec":
        return agent.store.memory.codec.get_weights()
    network = agent.q_network if weights == "q" else agent.target_network
    return network.get_weights()


def pairs(mirrored: object, single: object, weights: str) -> list:
    """[mirrored, single] lists of each weight of the two agents."""
    return [
        [np.asarray(a).tolist(), np.asarray(b).tolist()]
        for a, b in zip(weights_of(mirrored, weights), weights_of(single, weights), strict=True)
    ]


def runs_compared(strategy_name: str, out_dir: str) -> dict:
    from agents import lifelong
    from agents.experiment import RunInterrupted
    from tests.agents import tiny_envs
    from tests.agents.test_lifelong import FAST_AGENT, FAST_CODEC

    def config(strategy: str) -> lifelong.LifelongConfig:
        return lifelong.LifelongConfig(
            games=(tiny_envs.CUE, tiny_envs.SWAP),
            steps_per_phase=60,
            cycles=1,
            storage="recollections",
            memory_bytes=4000,
            eval_episodes=20,
            eval_max_steps=5,
            eval_epsilon=0.0,
            agent=FAST_AGENT,
            codec={**FAST_CODEC, "recent_transitions": 20},
            strategy=strategy,
        )

    whole = lifelong.run(config(strategy_name), os.path.join(out_dir, "whole"), progress=False)
    stopped = os.path.join(out_dir, "stopped")
    stops = 0
    for resume, at in ((False, 40), (True, 90)):
        try:
            lifelong.run(
                config(strategy_name), stopped, resume=resume, progress=False, stop_after_steps=at
            )
        except RunInterrupted:
            stops += 1
    resumed = lifelong.run(config(strategy_name), stopped, resume=True, progress=False)
    single = lifelong.run(config("default"), os.path.join(out_dir, "single"), progress=False)
    # Stopped under the strategy, resumed on one device.
    switched = os.path.join(out_dir, "switched")
    try:
        lifelong.run(config(strategy_name), switched, progress=False, stop_after_steps=40)
    except RunInterrupted:
        stops += 1
    switched_run = lifelong.run(config("default"), switched, resume=True, progress=False)
    keep = ("return_matrix", "frame_error_matrix", "env_steps")
    runs = (("whole", whole), ("resumed", resumed), ("single", single), ("switched", switched_run))
    return {
        "stops": stops,
        **{key: {k: run["seeds"][0][k] for k in keep} for key, run in runs},
    }


def refused(strategy: tf.distribute.Strategy) -> str:
    from agents import lifelong
    from agents.lifelong import envs, phases
    from tests.agents import tiny_envs
    from tests.agents.test_lifelong import FAST_AGENT

    config = lifelong.LifelongConfig(
        games=(tiny_envs.CUE,), agent={**FAST_AGENT, "batch_size": 7}, storage="real"
    )
    games = envs.make_games(config.games)
    try:
        phases.make_agent(config, games, 0, strategy)
        return "accepted"
    except ValueError as error:
        return str(error)
    finally:
        games[0].close()


def main(out_dir: str) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from agents import strategies

    strategy = strategies.make("mirrored")
    out = {
        "replicas": strategy.num_replicas_in_sync,
        "steps": stores_compared(strategy),
        "refused": refused(strategy),
        "runs": runs_compared("mirrored", out_dir),
    }
    with open(os.path.join(out_dir, "out.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(sys.argv[1])
