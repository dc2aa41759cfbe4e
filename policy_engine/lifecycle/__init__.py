"""The compliance lifecycle: policy test suites, coverage, simulation, diffs, reports and decision writers."""
