"""Progress lines a person can follow in a log: cadence, content, silence of short jobs,
no tqdm bar off a terminal, and the training loops' lines (all on a fake clock: no sleeps)."""

import io
import re

import pytest
import torch

import ebmlab.progress as prog
from ebmlab.progress import Progress, format_seconds, progress, progress_range


class FakeClock:
    def __init__(self, t=0.0, step=0.0):
        self.t, self.step = t, step

    def __call__(self):
        now = self.t
        self.t += self.step
        return now


class TTY(io.StringIO):
    def isatty(self):
        return True


ELAPSED = re.compile(r"elapsed (\d+):(\d\d)")


def elapsed_of(line):
    m, s = ELAPSED.search(line).groups()
    return 60 * int(m) + int(s)


def test_lines_at_the_first_update_after_every_seconds():
    clock, out = FakeClock(), io.StringIO()
    times = [0, 10, 20, 29, 31, 45, 62, 95]
    p = Progress(100, "train", every=30, clock=clock, stream=out)
    written = []
    for t in times:
        clock.t = t
        before = out.getvalue().count("\n")
        p.update()
        if out.getvalue().count("\n") > before:
            written.append(t)
    p.close()  # the last line already shows the final count: no extra line
    assert written == [31, 62, 95]
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    gaps = [b - a for a, b in zip([0] + written, written)]
    longest_update_interval = max(b - a for a, b in zip(times, times[1:]))
    assert max(gaps) <= 30 + longest_update_interval
    assert [elapsed_of(line) for line in lines] == [31, 62, 95]
    assert lines[0].startswith("train: 5/100 (5%) ")


def test_line_content_and_eta_from_the_clock():
    clock, out = FakeClock(), io.StringIO()
    p = Progress(100, "iterations", every=30, clock=clock, stream=out)
    clock.t = 31
    p.update(10, loss=0.5)
    # 31 s for 10 iterations: 3.1 s/it; 90 left: 279 s = 04:39
    assert out.getvalue() == "iterations: 10/100 (10%) loss=0.5 3.1 s/it, elapsed 00:31, ETA 04:39\n"
    clock.t = 100
    p.update(90, loss=-0.25)
    p.close()
    assert out.getvalue().splitlines()[-1] == "iterations: 100/100 (100%) loss=-0.25 1 s/it, elapsed 01:40, ETA 00:00"


def test_resumed_run_counts_speed_from_the_resume_point():
    clock, out = FakeClock(), io.StringIO()
    with Progress(1000, "iterations", every=30, clock=clock, stream=out, initial=400) as p:
        clock.t = 60
        p.update(20)
    # 20 iterations in 60 s: 3 s/it; 580 left: 1740 s = 29:00
    assert out.getvalue() == "iterations: 420/1000 (42%) 3 s/it, elapsed 01:00, ETA 29:00\n"


def test_short_job_writes_nothing_long_job_writes_a_final_line():
    clock, out = FakeClock(), io.StringIO()
    with Progress(10, "short", every=30, clock=clock, stream=out) as p:
        for t in range(10):
            clock.t = 2.9 * t
            p.update()
    assert out.getvalue() == ""
    # no update crossed 30 s, but the job did: one final line at close
    clock, out = FakeClock(), io.StringIO()
    p = Progress(10, "slow", every=30, clock=clock, stream=out)
    clock.t = 29
    p.update(5)
    clock.t = 40
    p.close()
    assert out.getvalue() == "slow: 5/10 (50%) 8 s/it, elapsed 00:40, stopped\n"


def test_failure_is_marked_stopped():
    clock, out = FakeClock(), io.StringIO()
    with pytest.raises(RuntimeError):
        with Progress(None, "loop", every=30, clock=clock, stream=out) as p:
            clock.t = 31
            p.update(3)
            clock.t = 40
            p.update()
            raise RuntimeError("boom")
    assert out.getvalue().splitlines() == ["loop: 3 10.3 s/it, elapsed 00:31, ETA ?",
                                           "loop: 4 10 s/it, elapsed 00:40, stopped"]


def test_not_a_tty_gives_plain_lines_only_and_a_tty_the_bar_only():
    out = io.StringIO()
    for _ in progress_range(50, desc="steps", clock=FakeClock(step=2.0), stream=out, every=30):
        pass
    text = out.getvalue()
    assert "\r" not in text and "it/s" not in text and "|" not in text
    lines = text.splitlines()
    assert lines and all(re.fullmatch(r"steps: \d+/50 \(\d+%\) \S+ s/it, elapsed \d\d:\d\d, (ETA \d\d:\d\d|done)",
                                      line) for line in lines)
    tty = TTY()
    for _ in progress_range(50, desc="steps", clock=FakeClock(step=2.0), stream=tty, every=30):
        pass
    assert "steps" in tty.getvalue() and "s/it, elapsed" not in tty.getvalue()  # tqdm's bar, no plain lines


def test_disabled_is_silent_and_plain_iteration():
    out = io.StringIO()
    it = progress(range(5), enabled=False, clock=FakeClock(step=100.0), stream=out)
    assert isinstance(it, type(iter(range(5))))
    assert list(it) == list(range(5)) and out.getvalue() == ""
    p = Progress(5, "off", enabled=False, every=0, stream=out)
    p.update(5)
    p.close()
    assert out.getvalue() == ""


def test_fields_callback_only_when_a_line_is_written():
    calls = []

    def fields():
        calls.append(1)
        return {"accept": 0.61234}

    out = io.StringIO()
    assert list(progress(range(10), desc="ais", clock=FakeClock(step=10.0), stream=out, every=30,
                         fields=fields)) == list(range(10))
    lines = out.getvalue().splitlines()
    assert len(calls) == len(lines) >= 2 and "accept=0.6123" in lines[0]


def test_stream_defaults_to_stderr_at_call_time(capsys):
    with Progress(4, "x", every=0, clock=FakeClock(step=1.0)) as p:
        p.update()
    assert capsys.readouterr().err.startswith("x: 1/4 (25%) ")


def test_format_seconds():
    assert [format_seconds(s) for s in (0, 59.4, 61, 3599, 3600, 36061, float("inf"))] == \
        ["00:00", "00:59", "01:01", "59:59", "1:00:00", "10:01:01", "?"]


def _check_cadence(lines, step, every=30):
    times = [elapsed_of(line) for line in lines]
    assert times == sorted(times)
    gaps = [b - a for a, b in zip([0] + times, times)]
    assert all(g <= every + step for g in gaps[:-1])  # the last may be the final line at close


def test_toy_cd_training_writes_lines_at_the_cadence(monkeypatch, capsys):
    from ebmlab import samplers
    from ebmlab.train.toy import ToyCDConfig, train_toy_cd

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.SiLU(), torch.nn.Linear(8, 1), torch.nn.Flatten(0))
    data = torch.randn(16, 2)
    monkeypatch.setattr(prog, "clock", FakeClock(step=7.0))  # 7 s per clock read: one per epoch
    cfg = ToyCDConfig(epochs=20, steps=2, init_noise=1.0)
    out = train_toy_cd(model, data, samplers.build("langevin", step_size=0.01), cfg, torch.Generator().manual_seed(0))
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epochs: ")]
    assert len(lines) == 4  # at 35, 70, 105, 140 s (epoch 5, 10, 15, 20)
    assert lines[0].startswith("epochs: 5/20 (25%) loss=") and " 7 s/it, elapsed 00:35, ETA 01:45" in lines[0]
    assert f"loss={out['history'][4]['loss']:.4g}" in lines[0]
    assert lines[-1].startswith("epochs: 20/20 (100%)")
    _check_cadence(lines, 7)


def test_image_trainer_writes_lines_from_the_resume_point(monkeypatch, capsys, tmp_path):
    from test_image_train import trainer

    monkeypatch.setattr(prog, "clock", FakeClock(step=0.0))
    first = trainer(tmp_path, checkpoint_every=4)  # 4 iterations (24 images, batches of 6)
    first.train()
    assert capsys.readouterr().err == ""  # a job shorter than 30 s stays silent
    monkeypatch.setattr(prog, "clock", FakeClock(step=11.0))
    t = trainer(tmp_path, checkpoint_every=4, epochs=2)  # 8 iterations; the 4 done come from the checkpoint
    result = t.train()
    assert result.resumed_from == 4
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("iterations: ")]
    # the clock reads 11 s per iteration: lines after 33 s (iteration 7) and at the end
    assert lines[0] == f"iterations: 7/8 (87%) loss={t.history[6]['loss']:.4g} 11 s/it, elapsed 00:33, ETA 00:11"
    assert lines[-1].startswith("iterations: 8/8 (100%) ") and lines[-1].endswith("done")
    _check_cadence(lines, 11)


def test_cadence_holds_across_a_sequence_of_short_loops():
    # an evaluation made of many 20-second loops: none alone reaches 30 s, the job still
    # writes a line at least every 30 s (plus one update interval)
    clock = FakeClock()
    line_times = []

    class Log(io.StringIO):
        def write(self, text):
            line_times.append(clock.t)
            return super().write(text)

    out = Log()
    for k in range(6):                      # six loops of 4 updates 5 s apart (20 s each)
        p = Progress(4, f"chains {k + 1}/6", every=30, clock=clock, stream=out)
        for _ in range(4):
            clock.t += 5.0
            p.update()
        p.close()
    assert len(line_times) >= 3
    gaps = [b - a for a, b in zip([0.0] + line_times, line_times + [clock.t])]
    assert max(gaps) <= 30 + 5
    assert all(line.startswith("chains ") for line in out.getvalue().splitlines())
