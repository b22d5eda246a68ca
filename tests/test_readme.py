"""Every Python example in the README runs as written."""
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, capsys):
    exec(compile(BLOCKS[index], f"README block {index}", "exec"), {})


def test_generated_readme_sections_are_what_the_code_gives_today():
    """The README's size tables are regenerated from the code and compared."""
    import importlib.util
    path = README.parent / "scripts" / "readme_figures.py"
    spec = importlib.util.spec_from_file_location("readme_figures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    computed = [name for name in module.SECTIONS if name in module.COMPUTED]
    assert computed, "no README section is computed from the code"
    assert module.main(["--check", "--sections", ",".join(computed)]) == 0
