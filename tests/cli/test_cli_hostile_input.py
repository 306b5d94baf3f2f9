"""Hostile files given to the CLI: each is one line naming the file, never "internal error".

Threat model: an API key holder's or a stranger's file that an operator passes on (a run
input, a contract in review, a captured case), and a wrong or compromised model's output
saved as one: bad input is refused with a usage or config error, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_harness import Ran, one_line_error, proctor_main

DEEP = 10_000

HOSTILE_JSON = {
    "nested": ("{" + '"a":{' * DEEP + "}" * DEEP + "}").encode(),
    "not_utf8": b'{"name": "caf\xe9"}',
    "big_integer": b'{"n": 18446744073709551616}',
    "long_integer": b'{"n": ' + b"9" * 5000 + b"}",
    "nan": b'{"n": NaN}',
    "infinity": b'{"n": [1, -Infinity]}',
    "lone_surrogate": b'{"s": "\\ud800"}',
    "lone_surrogate_key": b'{"\\udc00": 1}',
}
EXPECTED = {
    "nested": "is nested too deeply (a run's input may have at most 128 levels)",
    "not_utf8": "is not UTF-8 text (invalid continuation byte at byte 13); save it as UTF-8",
    "big_integer": "input.n is an integer beyond 64 bits; send it as a string",
    "long_integer": "holds a number too long to read; send it as a string",
    "nan": "input.n is nan, which JSON cannot hold; send a finite number",
    "infinity": "input.n[1] is -inf, which JSON cannot hold; send a finite number",
    "lone_surrogate": "input.s holds a lone surrogate",
    "lone_surrogate_key": "input has a key with a lone surrogate",
}


@pytest.mark.parametrize("command", ["run", "submit"])
@pytest.mark.parametrize("kind", list(HOSTILE_JSON))
def test_a_hostile_input_file_is_a_one_line_usage_error(
    tmp_path: Path,
    proctor_home: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    kind: str,
) -> None:
    path = tmp_path / f"{kind}.json"
    path.write_bytes(HOSTILE_JSON[kind])

    ran = proctor_main(command, "invoice_reconciliation", "--input", str(path), capsys=capsys)

    line = one_line_error(ran, 2)
    assert f"input file {path}" in line
    assert EXPECTED[kind] in line
    assert not (proctor_home / "proctor.db").exists()  # refused before the store opens


def _yaml_files(tmp_path: Path) -> dict[str, Path]:
    contents = {
        "nested": b"workflow: w\nx: " + b"[" * DEEP + b"]" * DEEP + b"\n",
        "not_utf8": b"workflow: caf\xe9\n",
        "big_integer": b"workflow: w\nlimits: {max_tool_calls: 18446744073709551616}\n",
        "nan": b"workflow: w\nlimits: {max_cost_usd: .nan}\n",
        "alias": b"workflow: w\nrequired_steps: &s [a]\nordering: [{tool: b, after: *s}]\n",
    }
    files = {}
    for kind, content in contents.items():
        folder = tmp_path / kind
        folder.mkdir()
        path = folder / "file.yaml"
        path.write_bytes(content)
        files[kind] = path
    return files


def _refused(ran: Ran, file: Path) -> None:
    assert ran.code in (1, 2), str(ran)
    assert "internal error" not in ran.err, str(ran)
    assert "Traceback" not in ran.err + ran.out, str(ran)
    assert str(file) in ran.err + ran.out, str(ran)


def test_hostile_yaml_files_are_refused_by_every_command_that_reads_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = tmp_path / "input.json"
    clean.write_text("{}")
    for path in _yaml_files(tmp_path).values():
        commands = [
            ("contract", "check", str(path)),
            ("contract", "test", str(path)),
            ("contract", "diff", str(path), str(path)),
            ("run", "invoice_reconciliation", "--input", str(clean), "--contract", str(path)),
            ("--config", str(path), "run", "invoice_reconciliation", "--input", str(clean)),
            ("eval", "run", str(path.parent)),
        ]
        for args in commands:
            _refused(proctor_main(*args, capsys=capsys), path)


def test_hostile_result_files_are_refused_by_eval_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for kind, content in HOSTILE_JSON.items():
        path = tmp_path / f"{kind}.json"
        path.write_bytes(content)
        _refused(proctor_main("eval", "diff", str(path), str(path), capsys=capsys), path)


def test_an_argument_that_is_not_utf8_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # What Python makes of the byte 0xff in argv: a lone surrogate.
    ran = proctor_main("runs", "--workflow", "\udcff", capsys=capsys)

    assert "argument '\\udcff' is not UTF-8 text" in one_line_error(ran, 2)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["runs", "--limit", "18446744073709551616"], "less than or equal to 1000000"),
        (["queue", "--limit", "99999999999999999999999"], "less than or equal to 1000000"),
        (["submit", "x", "-i", "in.json", "--priority", "2147483648"], "or equal to 2147483647"),
        (["eval", "diff", "a", "b", "--max-cost-change", "inf"], "inf is not a finite number"),
        (["report", "drift", "-w", "x", "--max-cost-rise", "inf"], "inf is not a finite number"),
    ],
)
def test_numbers_a_store_or_a_threshold_cannot_take_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert expected in one_line_error(proctor_main(*argv, capsys=capsys), 2)


def test_a_path_the_system_refuses_is_an_error_naming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = "é" * 200  # 400 bytes: longer than a file name may be
    ran = proctor_main("contract", "diff", name, "x", capsys=capsys)

    assert one_line_error(ran, 1) == f"error: File name too long: {name}"


@pytest.mark.parametrize("command", ["run", "submit"])
@pytest.mark.parametrize("ref", [":x", "..:x", "a:", "x\x00:y", "os.path:join extra"])
def test_a_malformed_workflow_ref_is_a_one_line_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, ref: str
) -> None:
    path = tmp_path / "input.json"
    path.write_text("{}")
    ran = proctor_main(command, ref, "--input", str(path), capsys=capsys)
    assert "is not package.module:attribute" in one_line_error(ran, 2)
