"""The bounds under the corpus: what the locator keeps, how the rejects file stays one record per line, and
that an `extends` chain of any depth resolves (the walk has its own stack)."""

from __future__ import annotations

import json
from pathlib import Path

from policy_engine.data.readers import Rejects, read_accounts
from policy_engine.policy.file_text import MAX_NESTING, data_too_deep, nesting_issue
from policy_engine.policy.loader import load_policy
from policy_engine.policy.locate import MAX_ARRAY_POSITIONS, PositionIndex


def test_the_locator_keeps_the_first_positions_of_an_array_and_locates_the_rest_at_the_array() -> None:
    text = "[x]\nlots = [" + "1, " * 50_000 + "]\nafter = { a = [ { b = 1 } ] }\n"
    index = PositionIndex(text)
    assert len(index.positions) < MAX_ARRAY_POSITIONS + 10
    assert index.find(("x", "lots", 999)) == (2, 9 + 3 * 999)
    assert index.find(("x", "lots", 40_000)) == index.find(("x", "lots")) == (2, 1)
    assert index.find(("x", "after", "a", 0, "b")) == (3, 19)


def test_nesting_is_counted_outside_strings_and_comments_only() -> None:
    deep = "[" * (MAX_NESTING + 1)
    assert nesting_issue(f'a = "{deep}"\nb = \'{deep}\'\nc = """\n{deep}\n"""\n# {deep}\n', "p.toml") is None
    issue = nesting_issue(f"a = 1\nb = {deep}", "p.toml")
    assert issue is not None and (issue.location.line, issue.location.column) == (2, 5 + MAX_NESTING)
    chain: dict[str, object] = {}
    for _ in range(MAX_NESTING * 100):  # any depth is safe to ask about
        chain = {"k": chain}
    assert data_too_deep(chain) == ("k",) * (MAX_NESTING + 1)
    assert data_too_deep({"k": [[{"v": 1}]]}) is None


def test_a_rejected_row_is_one_line_of_the_rejects_file_even_with_unicode_line_separators(tmp_path: Path) -> None:
    accounts = tmp_path / "a.jsonl"
    accounts.write_text('{"account_id": "A\u2028B", "balance": 1}\n{"account_id": "G", "balance": 1}\n',
                        encoding="utf-8")
    with Rejects(tmp_path / "rejects.jsonl") as rejects:
        assert [a.account_id for a in read_accounts(accounts, rejects=rejects)] == ["G"]
    written = (tmp_path / "rejects.jsonl").read_text(encoding="utf-8")
    assert len(written.splitlines()) == 1  # str.splitlines splits at U+2028 too: it must not occur raw
    assert json.loads(written)["reason"] == "account_id: 'A\\u2028B' holds a control character or line break"


def test_an_extends_chain_deeper_than_the_recursion_limit_resolves(tmp_path: Path) -> None:
    depth = 1200  # Python's recursion limit is 1000: the walk must not recurse per file
    (tmp_path / "f0.toml").write_text('[policy]\nid = "f0"\nkind = "baseline"\n[guardrails]\n'
                                      "max_contacts_per_day = 5\n", encoding="utf-8")
    for i in range(1, depth):
        (tmp_path / f"f{i}.toml").write_text(f'[policy]\nid = "f{i}"\nkind = "baseline"\n'
                                             f'extends = ["f{i - 1}.toml"]\n', encoding="utf-8")
    (tmp_path / "top.toml").write_text(f'[policy]\nid = "top"\nextends = ["f{depth - 1}.toml"]\n'
                                       "[guardrails]\nmax_contacts_per_day = 4\n", encoding="utf-8")
    loaded = load_policy(tmp_path / "top.toml")
    assert [s.path.name for s in loaded.chain] == [f"f{i}.toml" for i in range(depth)] + ["top.toml"]
    assert loaded.policy.guardrails.max_contacts_per_day == 4
    assert loaded.origins  # every limit still knows the file that set it
