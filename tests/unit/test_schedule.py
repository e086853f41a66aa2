import pytest

from proxy_attention.errors import ScheduleError
from proxy_attention.train.schedule import parse_schedule


@pytest.mark.parametrize(
    "spec, epochs",
    [
        ([2, "p", 2, "p", 2], (2, 2, 2)),
        ("[5, p, 9, p, 9, p, 9, p, 4]", (5, 9, 9, 9, 4)),
        ("20p19", (20, 19)),
        ([40], (40,)),
    ],
)
def test_parses_thesis_schedules(spec, epochs):
    s = parse_schedule(spec)
    assert s.round_epochs == epochs
    assert s.total_epochs == sum(epochs)
    assert s.n_proxy_steps == len(epochs) - 1
    assert parse_schedule(s.tag) == s
    assert parse_schedule(s.as_list()) == s


def test_epoch_ranges_cover_the_schedule_without_gaps():
    s = parse_schedule([5, "p", 9, "p", 4])
    assert [s.epoch_range(r) for r in range(3)] == [(0, 5), (5, 14), (14, 18)]
    with pytest.raises(ScheduleError):
        s.epoch_range(3)


@pytest.mark.parametrize(
    "spec, message",
    [
        (["p", 2], "epochs were expected"),
        ([2, "p"], "ends with 'p'"),
        ([2, 2], "must be 'p'"),
        ([2, "p", "p", 2], "epochs were expected"),
        ([0, "p", 2], "positive"),
        ([2.5], "positive whole number"),
        (["x"], "neither a number"),
        ([], "empty"),
        ("[]", "empty"),
    ],
)
def test_rejects_malformed_schedules(spec, message):
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(spec)
