#!/usr/bin/env python3
"""sarif_check.py - check a SARIF 2.1.0 log (stdin) against the schema's rules for the objects
`posture check -o sarif` writes: every required property present, no property the schema does not
define (its objects are additionalProperties: false), enums and minimums respected. The table below
was written from the OASIS schema (sarif-schema-2.1.0.json: "required", "properties", "enum",
"minimum"); no network. Prints nothing and exits 0 when the log conforms, else one line per problem
and exits 1.  usage: sarif_check.py < log.sarif"""
import json
import sys

LEVELS = {"none", "note", "warning", "error"}
# object -> (required, allowed properties, {property: child object or check})
SCHEMA = {
    "log": ({"version", "runs"}, {"$schema", "version", "runs", "inlineExternalProperties", "properties"}),
    "run": ({"tool"}, {"tool", "invocations", "results", "properties", "artifacts", "language",
                       "originalUriBaseIds", "automationDetails", "columnKind"}),
    "tool": ({"driver"}, {"driver", "extensions", "properties"}),
    "toolComponent": ({"name"}, {"name", "version", "semanticVersion", "informationUri", "rules",
                                 "organization", "fullName", "properties"}),
    "reportingDescriptor": ({"id"}, {"id", "name", "shortDescription", "fullDescription",
                                     "defaultConfiguration", "helpUri", "help", "properties"}),
    "multiformatMessageString": ({"text"}, {"text", "markdown", "properties"}),
    "reportingConfiguration": (set(), {"enabled", "level", "rank", "parameters", "properties"}),
    "result": ({"message"}, {"ruleId", "ruleIndex", "rule", "kind", "level", "message", "locations",
                             "partialFingerprints", "fingerprints", "properties"}),
    "message": (set(), {"text", "markdown", "id", "arguments", "properties"}),
    "location": (set(), {"id", "physicalLocation", "logicalLocations", "message", "properties"}),
    "physicalLocation": (set(), {"artifactLocation", "region", "contextRegion", "properties"}),
    "artifactLocation": (set(), {"uri", "uriBaseId", "index", "description", "properties"}),
    "region": (set(), {"startLine", "startColumn", "endLine", "endColumn", "properties"}),
    "invocation": ({"executionSuccessful"}, {"executionSuccessful", "exitCode", "toolExecutionNotifications",
                                             "commandLine", "arguments", "properties"}),
    "notification": ({"message"}, {"message", "level", "locations", "descriptor", "associatedRule",
                                   "timeUtc", "threadId", "exception", "properties"}),
    "reportingDescriptorReference": (set(), {"id", "index", "guid", "toolComponent", "properties"}),
    "logicalLocation": (set(), {"name", "index", "fullyQualifiedName", "decoratedName", "parentIndex",
                                "kind", "properties"}),
}
problems = []


def obj(kind, v, where):
    if not isinstance(v, dict):
        problems.append(f"{where}: {kind} is not an object")
        return False
    required, allowed = SCHEMA[kind]
    for k in sorted(required - v.keys()):
        problems.append(f"{where}: {kind} lacks required property {k}")
    for k in sorted(v.keys() - allowed):
        problems.append(f"{where}: {kind} has property {k}, which the schema does not define")
    return True


def arr(v, where):
    if not isinstance(v, list):
        problems.append(f"{where}: not an array")
        return []
    return v


def message(v, where, multiformat=False):
    if obj("multiformatMessageString" if multiformat else "message", v, where):
        if not isinstance(v.get("text"), str):
            problems.append(f"{where}: text is not a string")


def location(v, where):
    if not obj("location", v, where):
        return
    for i, ll in enumerate(arr(v.get("logicalLocations", []), where + ".logicalLocations")):
        if obj("logicalLocation", ll, f"{where}.logicalLocations[{i}]") and not isinstance(ll.get("name", ""), str):
            problems.append(f"{where}.logicalLocations[{i}]: name is not a string")
    pl = v.get("physicalLocation")
    if pl is not None and obj("physicalLocation", pl, where + ".physicalLocation"):
        al = pl.get("artifactLocation")
        if al is not None and obj("artifactLocation", al, where + ".artifactLocation"):
            uri = al.get("uri")
            if not isinstance(uri, str) or any(c in uri for c in ' "<>\\^`{|}') or any(ord(c) < 0x21 for c in uri):
                problems.append(f"{where}: uri {uri!r} is not a URI reference")
        rg = pl.get("region")
        if rg is not None and obj("region", rg, where + ".region"):
            for k in ("startLine", "startColumn", "endLine", "endColumn"):
                if k in rg and (not isinstance(rg[k], int) or rg[k] < 1):
                    problems.append(f"{where}.region.{k}: {rg[k]!r} is not an integer >= 1")


def main():
    log = json.load(sys.stdin)
    if not obj("log", log, "log"):
        return 1
    if log.get("version") != "2.1.0":
        problems.append("log.version is not 2.1.0")
    for i, run in enumerate(arr(log.get("runs"), "runs")):
        w = f"runs[{i}]"
        if not obj("run", run, w):
            continue
        if obj("tool", run.get("tool"), w + ".tool") and obj("toolComponent", run["tool"].get("driver"), w + ".tool.driver"):
            rules = arr(run["tool"]["driver"].get("rules", []), w + ".tool.driver.rules")
            for j, r in enumerate(rules):
                rw = f"{w}.tool.driver.rules[{j}]"
                if obj("reportingDescriptor", r, rw):
                    if "shortDescription" in r:
                        message(r["shortDescription"], rw + ".shortDescription", multiformat=True)
                    dc = r.get("defaultConfiguration")
                    if dc is not None and obj("reportingConfiguration", dc, rw + ".defaultConfiguration"):
                        if dc.get("level", "warning") not in LEVELS:
                            problems.append(f"{rw}: defaultConfiguration.level {dc['level']!r}")
            ids = [r.get("id") for r in rules]
        for j, res in enumerate(arr(run.get("results", []), w + ".results")):
            rw = f"{w}.results[{j}]"
            if not obj("result", res, rw):
                continue
            message(res.get("message"), rw + ".message")
            if res.get("level", "warning") not in LEVELS:
                problems.append(f"{rw}: level {res['level']!r}")
            if "ruleIndex" in res and not (0 <= res["ruleIndex"] < len(ids) and ids[res["ruleIndex"]] == res.get("ruleId")):
                problems.append(f"{rw}: ruleIndex {res['ruleIndex']} does not name ruleId {res.get('ruleId')!r}")
            for k, loc in enumerate(arr(res.get("locations", []), rw + ".locations")):
                location(loc, f"{rw}.locations[{k}]")
        for j, inv in enumerate(arr(run.get("invocations", []), w + ".invocations")):
            iw = f"{w}.invocations[{j}]"
            if not obj("invocation", inv, iw):
                continue
            if not isinstance(inv.get("executionSuccessful"), bool):
                problems.append(f"{iw}: executionSuccessful is not a boolean")
            for k, n in enumerate(arr(inv.get("toolExecutionNotifications", []), iw + ".toolExecutionNotifications")):
                nw = f"{iw}.toolExecutionNotifications[{k}]"
                if obj("notification", n, nw):
                    message(n.get("message"), nw + ".message")
                    if n.get("level", "warning") not in LEVELS:
                        problems.append(f"{nw}: level {n['level']!r}")
                    for m, loc in enumerate(arr(n.get("locations", []), nw + ".locations")):
                        location(loc, f"{nw}.locations[{m}]")
                    ar = n.get("associatedRule")
                    if ar is not None and obj("reportingDescriptorReference", ar, nw + ".associatedRule"):
                        if "index" in ar and not (0 <= ar["index"] < len(ids) and ids[ar["index"]] == ar.get("id")):
                            problems.append(f"{nw}.associatedRule: index {ar['index']} does not name id {ar.get('id')!r}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
