"""Property: for random sequences of 異動 events — late ones with earlier 異動日, same-day corrections,
re-deliveries, several people and households — every "as of day V as known at instant R" read of the SQL
master (person and household) agrees with the simple reference model of ``reference.py``."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.masterdata.builders import fresh_tenant
from tests.masterdata.conftest import Master
from tests.masterdata.reference import Step, run_and_compare, steps


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(steps, min_size=1, max_size=12))
def test_as_of_reads_agree_with_the_reference_model(master: Master, plan: list[Step]) -> None:
    # One database serves every example; each example is a tenant of its own, so none sees another's rows.
    run_and_compare(master.service, master.clock, fresh_tenant(), plan)
