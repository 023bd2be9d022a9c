"""`ape keeper journal prune --before-block N`: deletes decisions and settled transactions below
block N, never pending ones; asks first without --yes (no answer: nothing deleted); bad input is one
line on stderr and a non-zero exit."""

import pytest
from click.testing import CliRunner

from macrostrike.keeper.journal import Decision, Journal
from ops_helpers import ape, assert_one_line_error

pytestmark = pytest.mark.skipif(not hasattr(Journal, "prune"),
                                reason="Journal.prune (macrostrike.keeper.journal) is not there yet")

PENDING = "0x" + "cd" * 32


def filled(path):
    """A journal file with decisions in blocks 1..10, a transaction mined in block 3 and one pending."""
    url = f"sqlite:///{path}"
    journal = Journal(url)
    for block in range(1, 11):
        journal.record(Decision(block=block, job="arbitrage", action="skip", reason="no_opportunity"))
    journal.tx_pending("0x" + "ab" * 32, "0x" + "11" * 20, 0, "arbitrage", 1)
    journal.tx_final("0x" + "ab" * 32, "mined", gas_used=21_000, effective_gas_price=1, block=3)
    journal.tx_pending(PENDING, "0x" + "11" * 20, 1, "arbitrage", 1)
    journal.set_last_block("keeper", 10)
    journal.close()
    return url


def state(url):
    journal = Journal(url)
    try:
        return ([d.block for d in journal.stored_decisions()],
                sorted((t["tx_hash"], t["status"]) for t in journal.transactions()), journal.last_block("keeper"))
    finally:
        journal.close()


def prune(*args, input=None):
    from macrostrike.cli import cli

    return CliRunner(mix_stderr=False).invoke(cli, ["journal", "prune", *args], input=input)


def test_prune_with_yes_deletes_below_the_block_only(tmp_path):
    url = filled(tmp_path / "j.sqlite")
    result = prune("--before-block", "5", "--journal", url, "--yes")
    assert result.exit_code == 0, result.output + result.stderr
    assert "decisions=4" in result.stdout and "transactions=1" in result.stdout
    blocks, txs, cursor = state(url)
    assert blocks == [5, 6, 7, 8, 9, 10]
    assert txs == [(PENDING, "pending")]  # the pending transaction is kept
    assert cursor == 10  # cursors are never pruned


def test_prune_asks_first_and_aborts_without_an_answer(tmp_path):
    url = filled(tmp_path / "j.sqlite")
    before = state(url)
    result = prune("--before-block", "5", "--journal", url, input="")  # no answer: stdin at its end
    assert result.exit_code == 1
    assert "would delete" in result.stdout and "decisions=4" in result.stdout  # the dry count
    assert result.stderr.strip().splitlines() == ["Error: not confirmed: nothing deleted (answer y, or pass --yes)"]
    assert state(url) == before
    declined = prune("--before-block", "5", "--journal", url, input="n\n")
    assert declined.exit_code == 1 and state(url) == before
    confirmed = prune("--before-block", "5", "--journal", url, input="y\n")
    assert confirmed.exit_code == 0, confirmed.stderr
    assert state(url)[0] == [5, 6, 7, 8, 9, 10]


def test_prune_nothing_to_delete(tmp_path):
    url = filled(tmp_path / "j.sqlite")
    result = prune("--before-block", "0", "--journal", url)  # nothing below block 0: no question asked
    assert result.exit_code == 0 and "nothing to prune" in result.stdout


@pytest.mark.parametrize("args, needle", [
    (("--before-block", "-1"), "--before-block must be a block number >= 0"),
    (("--before-block", "5", "--journal", "sqlite:///{missing}"), "no journal at"),
    (("--before-block", "5", "--journal", "not a url"), "cannot open the journal"),
])
def test_bad_input_deletes_nothing(tmp_path, args, needle):
    url = filled(tmp_path / "j.sqlite")
    before = state(url)
    args = tuple(a.format(missing=tmp_path / "missing.sqlite") for a in args)
    if "--journal" not in args:
        args += ("--journal", url)
    result = prune(*args, "--yes")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needle in lines[0], result.stderr
    assert state(url) == before
    assert not (tmp_path / "missing.sqlite").exists()  # an unknown SQLite path is not created


def test_unreachable_journal_hides_its_password():
    result = prune("--before-block", "5", "--journal", "postgresql+psycopg://keeper:s3cret@127.0.0.1:1/keeper", "--yes")
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "cannot open the journal 'postgresql+psycopg://keeper:***@127.0.0.1:1/keeper'" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


@pytest.mark.slow
def test_cli_prune_without_stdin(tmp_path):
    url = filled(tmp_path / "j.sqlite")
    before = state(url)
    asked = ape("keeper", "journal", "prune", "--before-block", "5", "--journal", url)  # stdin: /dev/null
    assert_one_line_error(asked, "not confirmed: nothing deleted")
    assert "decisions=4" in asked.stdout
    negative = ape("keeper", "journal", "prune", "--before-block", "-3", "--journal", url, "--yes")
    assert_one_line_error(negative, "--before-block must be a block number >= 0")
    assert state(url) == before
    done = ape("keeper", "journal", "prune", "--before-block", "5", "--journal", url, "--yes")
    assert done.returncode == 0, done.stderr
    assert state(url)[0] == [5, 6, 7, 8, 9, 10]
