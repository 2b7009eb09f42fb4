"""Run records name the CPU that produced them."""

import platform

from ebmlab.records import cpu_model, make_record


def test_cpu_model_is_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n"
                    "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\n")
    assert cpu_model(info) == "Intel(R) Xeon(R) Processor"


def test_cpu_model_falls_back_without_cpuinfo(tmp_path):
    assert cpu_model(tmp_path / "absent") == (platform.processor() or platform.machine())


def test_a_record_carries_the_cpu():
    rec = make_record(command="x", config={}, seed=0, argv=["x"])
    assert rec["cpu"] == cpu_model()
