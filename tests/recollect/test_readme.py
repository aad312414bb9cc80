"""The README's compiled-step example runs as written."""

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def readme_block(name):
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    return re.search(rf"<!-- example: {name} -->\n```python\n(.*?)```", text, re.S).group(1)


def test_the_readme_compiled_step_runs_in_one_trace(capsys):
    namespace = {}
    exec(compile(readme_block("compiled-step"), "README.md", "exec"), namespace)
    assert capsys.readouterr().out.split() == ["200", "1"]
    memory = namespace["memory"]
    assert int(memory.buffer.num_seen) == 200 and int(memory.optimizer.iterations) == 20
