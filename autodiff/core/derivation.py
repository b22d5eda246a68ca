"""Which transform call returned a node: `derived_by`.

A graph transformation (`grad`, `jvp`, `simplify`, a checkpointed call, ...) returns new
nodes that are a function of its arguments. Recording the call on each node it returns,
as ``node.derived_by = (transform, args, kwargs, path)`` (`path`: where the node sits in
the returned structure), lets the graph be rebuilt when its inputs change shape
(runtime/reinfer.py): the transformation simply runs again on the rebuilt arguments. The
nodes a transformation builds inside its result need no record of their own.
"""
import functools

from .context import next_serial
from .node import Node


def records_derivation(all_results=False):
    """Decorator for a transformation returning nodes (a node, or nodes in nested tuples,
    lists and dicts): marks each returned node built during the call (or every returned
    node, with `all_results`) with ``derived_by``."""
    def decorate(transform):
        @functools.wraps(transform)
        def recorded(*args, **kwargs):
            start = next_serial()
            result = transform(*args, **kwargs)
            for path, node in nodes_with_paths(result):
                if all_results or node.serial > start:
                    node.derived_by = (recorded, args, kwargs, path)
            return result
        return recorded
    return decorate


def nodes_with_paths(value, path=()):
    """(path, node) for every node in a nested structure of tuples, lists and dicts."""
    if isinstance(value, Node):
        yield path, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from nodes_with_paths(item, path + (i,))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from nodes_with_paths(item, path + (key,))


def at_path(value, path):
    """The item of a nested structure at `path` (see `nodes_with_paths`)."""
    for step in path:
        value = value[step]
    return value
