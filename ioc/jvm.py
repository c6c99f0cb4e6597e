"""JVM classes and static methods reached through py4j, named once per gateway.

`spark._jvm.org.apache.spark.sql.delta.DeltaLog` asks the JVM about each of its seven names in turn:
seven round trips, each a `Class.forName` that searches every jar on the class path for a class of that
name (about 1 ms a name on this machine's class path, 2026-12-06). From a background thread, while the
batch's thread holds the GIL, each round trip also waits for the GIL to come back. The streaming job's
writes named a dozen classes that way for every commit: in a backlog batch under `py-spy`, 0.6 s of
its writer threads went to finding `Action` alone, and in a JFR profile of the same run, one JVM
sample in ten was such a search.

A `JavaClass` made from its full name asks nothing until it is used, and a static method made from
its class's name is called in one round trip. py4j builds the same objects itself once it has found
the name, so these behave exactly like theirs.
"""

from __future__ import annotations

from typing import Any

from py4j import protocol
from py4j.java_gateway import JavaClass, JavaMember
from pyspark.sql import SparkSession

# (the gateway client's id, name) -> (that client, the class or method): the client is kept with its
# entry, so no other client can take its id while the entry is held (two threads making the same entry at
# once make equal objects: no lock)
_NAMED: dict[tuple[int, str], tuple[Any, Any]] = {}


def java_class(spark: SparkSession, name: str) -> Any:
    """The JVM class `name` (its binary name: `Outer$Inner` for a nested class), as `spark._jvm.<name>`
    gives it: call it to construct, read its static fields and methods as attributes."""
    return _named(spark, name, lambda client: JavaClass(name, client))


def static_method(spark: SparkSession, class_name: str, method: str) -> Any:
    """The static method `method` of the JVM class `class_name` (Scala objects' methods too, through
    their static forwarders), ready to call."""
    return _named(spark, f"{class_name}#{method}",
                  lambda client: JavaMember(method, None, protocol.STATIC_PREFIX + class_name, client))


def _named(spark: SparkSession, name: str, make: Any) -> Any:
    jvm = spark._jvm
    if jvm is None:
        raise RuntimeError("the Spark session is stopped: it has no JVM to reach")
    client = jvm._gateway_client
    key = (id(client), name)
    held = _NAMED.get(key)
    if held is None:
        held = _NAMED[key] = (client, make(client))
    return held[1]
