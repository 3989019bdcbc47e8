"""Small pieces of the SQL Gateway client, no gateway needed."""

from __future__ import annotations

from flinksql_gen.deploy.gateway import epoch_ms, session_view


def test_show_jobs_start_time_from_iso_text_or_epoch():
    assert epoch_ms("2026-11-29T14:23:38.123Z") == 1795962218123
    assert epoch_ms("2026-11-29 14:23:38.123") == 1795962218123  # no zone: UTC, as Flink prints LTZ
    assert epoch_ms("2026-11-29T15:23:38.123+01:00") == 1795962218123
    assert epoch_ms(1795962218123) == 1795962218123
    assert [epoch_ms(v) for v in (None, "", "yesterday", True, 1.5)] == [None] * 5


def test_temporary_views_become_session_views_for_the_gateway():
    sql = "CREATE TEMPORARY VIEW `TEMPORARY VIEW` AS\nSELECT 'CREATE TEMPORARY VIEW' AS x"
    assert session_view(sql) == "CREATE VIEW `TEMPORARY VIEW` AS\nSELECT 'CREATE TEMPORARY VIEW' AS x"
    assert session_view("CREATE VIEW v AS SELECT 1") == "CREATE VIEW v AS SELECT 1"
