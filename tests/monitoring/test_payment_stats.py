"""`manage.py payment_stats`: the guide's query and the recent failed payments, as tables."""

from io import StringIO

from django.core.management import call_command


def run(*args):
    out = StringIO()
    call_command("payment_stats", *args, stdout=out)
    return out.getvalue()


def test_payment_stats_on_seeded_data(seeded):
    output = run()
    assert "(last 7 days)" in output
    assert "Success rate: 4/9" in output  # the guide's line: successful/total
    lines = output.splitlines()
    header = next(
        i
        for i, line in enumerate(lines)
        if line.split() == ["total", "successful", "failed", "pending"]
    )
    assert lines[header + 2].split() == ["9", "4", "1", "2"]
    eco = next(line for line in lines if line.startswith("paynow_ecocash"))
    assert eco.split() == ["paynow_ecocash", "4", "3", "1", "0", "0", "75.0%"]
    overall = next(line for line in lines if line.startswith("all Paynow"))
    assert overall.split()[-1] == "57.1%"
    assert "median 300 ms, p95 880 ms, max 1000 ms over 5 valid IPNs" in output
    assert "4 sent, 2 started a payment (50.0%), 1 completed (25.0%)" in output
    assert "2 pending, 1 stuck pending, 1 flagged" in output
    failed = seeded.payments["eco_failed"]
    assert failed.reference in output
    assert seeded.booking.booking_reference in output
    assert "Insufficient balance on *******567" in output  # notes, phone masked
    assert "0771234567" not in output


def test_payment_stats_days_option(seeded):
    output = run("--days", "30")
    assert "Success rate: 5/10" in output


def test_payment_stats_empty(db):
    output = run("--days", "1")
    assert "Success rate: 0/0" in output
    assert "none" in output
