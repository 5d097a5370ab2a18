"""make load's report from locust's CSV files: 429s are the plan's throttle, counted apart; every
other failure is an error."""

from __future__ import annotations

from bench.load import summarise, table

STATS = """Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
POST,recommend (user),100,7,21,25.0,10,90,1200,10.0,0.7,21,24,26,28,33,40,60,85,90,90,90
POST,similar,40,1,12,13.0,8,30,600,4.0,0.1,12,13,14,15,18,22,25,29,30,30,30
GET,health,10,0,2,2.0,1,3,20,1.0,0.0,2,2,2,2,3,3,3,3,3,3,3
,Aggregated,150,8,18,20.0,1,90,900,15.0,0.8,18,21,24,26,30,36,55,80,90,90,90
"""
FAILURES = """Method,Name,Error,Occurrences
POST,recommend (user),CatchResponseError('429'),6
POST,recommend (user),CatchResponseError('500'),1
POST,similar,CatchResponseError('429'),1
"""


def test_429s_are_counted_apart_from_errors():
    rows = {r["route"]: r for r in summarise(STATS, FAILURES)}
    assert rows["recommend (user)"]["throttled_429"] == 6 and rows["recommend (user)"]["errors"] == 1
    assert rows["recommend (user)"]["error_rate"] == 0.01
    assert rows["similar"]["errors"] == 0 and rows["similar"]["throttled_429"] == 1
    assert rows["Aggregated"]["errors"] == 1 and rows["Aggregated"]["throttled_429"] == 7
    assert rows["recommend (user)"]["p50_ms"] == 21 and rows["recommend (user)"]["p99_ms"] == 85
    assert rows["health"]["throughput_rps"] == 1.0


def test_the_table_has_a_row_per_route():
    text = table(summarise(STATS, FAILURES))
    assert text.count("\n") == 5 and "| recommend (user) | 100 | 10.0 | 21.0 | 85.0 | 1 | 1.00% | 6 |" in text
