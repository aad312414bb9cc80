"""One scratch folder per test session for the bad-input cases, removed at the end."""

from collections.abc import Iterator

import pytest

from tests.bad_inputs import harness


@pytest.fixture(scope="session", autouse=True)
def _scratch_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    harness.use_scratch_root(tmp_path_factory.mktemp("bad_inputs"))
    yield
    harness.reset()
