"""Schemathesis hooks for scripts/schemathesis_run.py: a `follow` stream never ends by itself (events), so
no request sent asks for one (`follow=1`/`true` become `0`); malformed values of the parameter are kept."""
import schemathesis


def _no_follow(query):
    if isinstance(query, dict) and str(query.get("follow", "")).lower() in ("1", "true"):
        query["follow"] = "0"
    return query


@schemathesis.hook
def map_query(ctx, query):
    return _no_follow(query)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    _no_follow(case.query)
