"""Which nodes a picture draws one by one, and which it folds into boxes.

Contract
--------
`plan(order, outputs, max_nodes, collapse_depth)` returns a `Plan`: a tree of groups to
draw as clusters, the nodes drawn one by one in each, and the `Box`es that stand for
folded nodes. A graph of at most `max_nodes` nodes (and no `collapse_depth`) is drawn
whole: every node its own box, module scopes as nested clusters.

Groups. A node's group is its module scope (``node.scope``). A gradient node goes in
the mirror of the group of the forward node it came from (``derivative_of``): the
gradient of a node in scope ``("net", "fc1: Linear")`` sits in ``("d net", "d fc1:
Linear")``, so gradient pictures fold like forward ones.

Folding (only when the graph is larger than `max_nodes`, or `collapse_depth` is given):

* a parameter or input (a leaf outside every scope) moves into the deepest scope that
  holds all of its forward uses, so a layer folds together with its weights;
* a forward node with many gradient nodes of its own (a shared weight whose gradient
  sums one term per use) gets a group ``"d <name>"`` for them;
* runs of sibling groups that repeat (``layers.0 ... layers.39``, calls ``#2 ... #99``
  of a recurrent cell, or a repeating pattern such as Linear, Tanh, Linear, Tanh) fold
  into one box labelled with the range and the count, keeping the first and the last
  repetition outside the run;
* groups open from the outside in, shallow and cheap ones first, while the number of
  drawn boxes stays within `max_nodes`; a group left closed is one box;
* when even the top level is too large (a big graph built without modules), its items
  fold into bands by depth in the graph, forward and gradient apart.

Every box says what it holds (range, count, nodes, outputs) and `Plan.notes` lists the
folds for a caption. The work is linear in the size of the graph.
"""
import collections
import heapq
import itertools
import re

#: A forward node with at least this many gradient nodes gets its own "d <name>" group.
MIN_ORIGIN_GROUP = 8
#: The longest repeating pattern of sibling groups looked for (Linear, Tanh, Dropout...).
MAX_PERIOD = 4
#: A run folds when the pattern repeats at least this often (first and last kept apart).
MIN_REPEATS = 4
#: Added to the depth of gradient-sum groups, so that they open after every scope.
_LATE = 1000


class Group:
    """A module scope (or its gradient mirror) and what it holds."""

    __slots__ = ("key", "label", "depth", "parent", "children", "members", "size", "first",
                 "derivative", "origin")

    def __init__(self, key, label, parent):
        self.key, self.label, self.parent = key, label, parent
        self.depth = len(key)
        self.children = {}   # part -> Group, in order of first appearance
        self.members = []    # nodes directly in this group
        self.size = 0        # nodes in this group and all groups below it
        self.first = None    # topological index of its first node
        self.derivative = bool(label) and label.startswith("d ")
        self.origin = False  # the gradient nodes of one forward node (see _origin_groups)

    def nodes(self):
        """Every node in this group and below it (no recursion: trees can be deep)."""
        found, stack = [], [self]
        while stack:
            group = stack.pop()
            found.extend(group.members)
            stack.extend(group.children.values())
        return found


class Box:
    """One drawn box standing for several nodes: a closed group (``kind="group"``), a run
    of repeated sibling groups (``"run"``) or a band of top-level items (``"band"``)."""

    __slots__ = ("ident", "kind", "label", "nodes", "parent", "derivative", "outputs")

    def __init__(self, ident, kind, label, nodes, parent, derivative):
        self.ident, self.kind, self.label = ident, kind, label
        self.nodes, self.parent, self.derivative = nodes, parent, derivative
        self.outputs = 0


class Plan:
    """What to draw: open groups (clusters) with their visible nodes and boxes."""

    def __init__(self, root, opened, boxes, owner, folded, notes):
        self.root = root          # Group; always open
        self.opened = opened      # set of id(Group) drawn as clusters
        self.boxes = boxes        # list of Box
        self.owner = owner        # id(node) -> Box holding it (absent: drawn itself)
        self.folded = folded      # whether anything was folded
        self.notes = notes        # one line per fold, for a caption

    def visible_members(self, group):
        """The nodes of `group` drawn one by one."""
        return [n for n in group.members if id(n) not in self.owner]

    def boxes_in(self, group):
        """The boxes drawn directly inside `group`."""
        return [b for b in self.boxes if b.parent is group]

    def open_children(self, group):
        """The sub-groups of `group` drawn as clusters."""
        return [g for g in group.children.values() if id(g) in self.opened]

    def drawn_count(self):
        """How many boxes the picture has (nodes drawn one by one plus folded boxes)."""
        return sum(len(self.visible_members(g)) for g in self.groups()) + len(self.boxes)

    def groups(self):
        """The open groups, outermost first."""
        found, queue = [], collections.deque([self.root])
        while queue:
            group = queue.popleft()
            found.append(group)
            queue.extend(self.open_children(group))
        return found


def plan(order, outputs, max_nodes, collapse_depth=None):
    """A `Plan` for drawing the nodes `order` (topological) with at most about `max_nodes`
    boxes; `collapse_depth=k` keeps scopes of depth k and deeper closed (1: outermost)."""
    folding = len(order) > max_nodes or collapse_depth is not None
    root = _group_tree(order, folding)
    if not folding:
        return Plan(root, _all_groups(root), [], {}, False, [])
    return _Folder(root, order, outputs, max_nodes, collapse_depth).run()


# --- groups --------------------------------------------------------------------------------

def _group_tree(order, folding):
    """The tree of groups with every node of `order` placed in one."""
    index = {id(n): i for i, n in enumerate(order)}
    path = _forward_paths(order, folding, index)
    _derivative_paths(order, path)
    origins = _origin_groups(order, path) if folding else set()
    root = Group((), "", None)
    for i, node in enumerate(order):
        group = root
        for part in path[id(node)]:
            child = group.children.get(part)
            if child is None:
                child = group.children[part] = Group(group.key + (part,), part, group)
                child.first = i
                child.origin = part in origins
            group = child
        group.members.append(node)
        while group is not None:
            group.size += 1
            group = group.parent
    root.first = 0
    return root


def _forward_paths(order, folding, index):
    """id(node) -> group path of each forward node (gradient nodes are set later)."""
    path = {}
    for node in order:
        if node.derivative_of is None:
            path[id(node)] = tuple(node.scope)
    if not folding:
        return path
    # a scope-less leaf goes to the deepest scope holding all of its forward uses
    uses = {}
    for node in order:
        if node.derivative_of is None:
            for child in node.children:
                if id(child) in index:
                    uses.setdefault(id(child), []).append(path[id(node)])
    for node in order:
        if not node.children and not node.scope and node.derivative_of is None \
                and id(node) in uses:
            path[id(node)] = _common_prefix(uses[id(node)])
    return path


def _derivative_paths(order, path):
    """Give each gradient node the mirror ("d " + part) of its forward node's path."""
    def path_of(node):
        chain = []
        while id(node) not in path and node.derivative_of is not None:
            chain.append(node)
            node = node.derivative_of
        base = path.get(id(node), tuple(node.scope))
        for link in reversed(chain):  # innermost derivative last: one "d " per order
            base = tuple(link.scope) + tuple("d " + part for part in base)
            path[id(link)] = base
        return base

    for node in order:
        if id(node) not in path:
            path_of(node)


def _origin_groups(order, path):
    """Gradient nodes of one forward node, when many, get a group "d <name>" of their own;
    returns the names of those groups."""
    by_origin = collections.Counter(id(n.derivative_of) for n in order
                                    if n.derivative_of is not None)
    names = {}
    for node in order:
        origin = node.derivative_of
        if origin is not None and by_origin[id(origin)] >= MIN_ORIGIN_GROUP:
            if id(origin) not in names:
                names[id(origin)] = "d " + describe(origin)
            path[id(node)] = path[id(node)] + (names[id(origin)],)
    return set(names.values())


def describe(node):
    """A short name for `node` in labels: its name, else what it is the gradient of
    (``(d z / d x)``), else its op and shape (``<Mul> ()``)."""
    if node.name:
        return node.name
    if node.gradient_of:
        return f"({gradient_text(node)})"
    return node.describe()


def gradient_text(node):
    """``"d loss / d fc1.weight"`` for a node that is a gradient (its ``gradient_of``:
    (y, w) pairs), else ``""``."""
    return "; ".join(f"d {describe(y)} / d {describe(w)}" for y, w in node.gradient_of)


def _common_prefix(paths):
    first = paths[0]
    n = len(first)
    for other in paths[1:]:
        n = min(n, len(other))
        for k in range(n):
            if other[k] != first[k]:
                n = k
                break
    return first[:n]


def _subgroups(root):
    """`root` and every group below it."""
    found, stack = [], [root]
    while stack:
        group = stack.pop()
        found.append(group)
        stack.extend(group.children.values())
    return found


def _all_groups(root):
    return {id(g) for g in _subgroups(root)}


# --- runs of repeated sibling groups -------------------------------------------------------

_NAMED = re.compile(r"^(?P<d>(?:d )*)(?P<name>[^:#]*?)(?P<num>\d*): (?P<cls>[^#]+?)"
                    r"(?: #(?P<call>\d+))?$")
_BARE = re.compile(r"^(?P<d>(?:d )*)(?P<cls>[^:#]+?)(?: #(?P<call>\d+))?$")


def _scope_parts(label):
    """(kind, number, style) of a scope label, or None when it has no number.

    ``"layers.3: Linear"`` -> kind ("", "layers.", "Linear"), number 3, style "name";
    ``"d RNNCell #7"`` -> kind ("d ", "RNNCell", None), number 7, style "call" (a first
    call has no suffix: number 1).
    """
    named = _NAMED.match(label)
    if named and named["call"]:
        return (named["d"], named["name"] + named["num"], named["cls"]), int(named["call"]), "call"
    if named and named["num"]:
        return (named["d"], named["name"], named["cls"]), int(named["num"]), "name"
    if named:  # "cell: LSTMCell", the first call of a named submodule
        return (named["d"], named["name"], named["cls"]), 1, "call"
    bare = _BARE.match(label)
    if bare:
        return (bare["d"], bare["cls"], None), int(bare["call"] or 1), "call"
    return None


def find_runs(groups):
    """Runs to fold among sibling `groups`: lists of groups, each list a whole number of
    repetitions of one pattern, with the first and last repetition left out."""
    parsed = [(g, _scope_parts(g.label)) for g in groups]
    numbered = sorted(((p[0][:2], p[1], p[0][2] or "", g, p) for g, p in parsed if p),
                      key=lambda item: item[:3])
    runs, i = [], 0
    while i < len(numbered):
        period, repeats = _best_repetition(numbered, i)
        if repeats >= MIN_REPEATS:
            runs.append([item[3] for item in numbered[i + period:i + (repeats - 1) * period]])
            i += period * repeats
        else:
            i += 1
    return runs


def _best_repetition(items, start):
    """(period, repeats) of the longest repeating pattern starting at `start`."""
    best = (1, 1)
    for period in range(1, MAX_PERIOD + 1):
        repeats = 1
        while _repeats(items, start, period, repeats):
            repeats += 1
        if repeats * period > best[0] * best[1] and repeats >= MIN_REPEATS:
            best = (period, repeats)
    return best


def _repeats(items, start, period, repeats):
    """Whether the pattern items[start:start+period] occurs once more after `repeats`."""
    at = start + repeats * period
    if at + period > len(items):
        return False
    for j in range(period):
        (prefix, number, cls, _, parts), previous = items[at + j], items[at + j - 1]
        first = items[start + j]
        if (prefix, cls) != (first[0], first[2]) or parts[0] != first[4][0] \
                or number != previous[1] + 1 or prefix != previous[0]:
            return False
    return True


def run_label(run):
    """``"layers.3-39: Linear x37"``, ``"2-77: Linear, Tanh x38"``, ``"RNNCell #2-#99 x98"``."""
    parts = [_scope_parts(g.label) for g in run]
    (d, stem, cls), low, style = parts[0]
    high = parts[-1][1]
    names = []
    for (kind, _, _) in parts:
        if kind in names:
            break
        names.append(kind)
    repeats = len(run) // len(names)
    if style == "name":
        return f"{d}{stem}{low}-{high}: {', '.join(k[2] for k in names)} x{repeats}"
    if cls is None:
        return f"{d}{stem} #{low}-#{high} x{repeats}"
    return f"{d}{stem}: {cls} #{low}-#{high} x{repeats}"


# --- choosing what to open -----------------------------------------------------------------

class _Folder:
    """The greedy choice of groups to open within the budget (see the module docstring)."""

    def __init__(self, root, order, outputs, max_nodes, collapse_depth):
        self.root, self.order, self.budget = root, order, max_nodes
        self.max_open_depth = None if collapse_depth is None else collapse_depth - 1
        self.outputs = set(map(id, outputs))
        self.runs = {}       # id(group) -> runs among its children (lists of groups)
        self.in_run = {}     # id(group) -> the run (list) that folds it
        self.opened = {id(root)}
        self.unfolded = set()  # id(run) of runs drawn unfolded
        self._tie = itertools.count()  # heap order among equals: first come, first served

    def run(self):
        """Open groups while the picture fits; return the `Plan`."""
        total = len(self.root.members) + len(self._items(self.root))
        if total > self.budget:
            return self._banded()
        heap = []  # (depth, cost, tie, (kind, thing)): shallow first, then cheap first
        self._push(heap, 1, self.root)
        while heap:
            depth, cost, _, (kind, thing) = heapq.heappop(heap)
            if total + cost > self.budget:
                continue  # stays one box; smaller items may still fit
            total += cost
            if kind == "run":
                self._show_whole(thing)
            elif kind == "origins":
                for group in thing:
                    self.opened.add(id(group))
                    self._push(heap, depth + 1, group)
            else:
                self.opened.add(id(thing))
                self._push(heap, depth + 1, thing)
        return self._plan()

    def _push(self, heap, depth, group):
        """Queue what may open inside the now-open `group`."""
        for cost, item in self._candidates(group):
            # gradient sums of shared weights open last: long chains of "+" that tell
            # less than the layers they would crowd out
            late = _LATE if item[0] == "origins" else 0
            heapq.heappush(heap, (depth + late, cost, next(self._tie), item))

    def _show_whole(self, run):
        """Draw every node of `run`: its groups and all groups below them open."""
        self.unfolded.add(id(run))
        for group in run:
            for inner in _subgroups(group):
                self.opened.add(id(inner))
                self.unfolded.update(id(r) for r in self._runs_of(inner))

    def _may_open(self, group):
        return self.max_open_depth is None or group.depth <= self.max_open_depth

    def _runs_of(self, group):
        if id(group) not in self.runs:
            runs = find_runs(list(group.children.values()))
            self.runs[id(group)] = runs
            for run in runs:
                for member in run:
                    self.in_run[id(member)] = run
        return self.runs[id(group)]

    def _items(self, group):
        """What `group` shows when open: its closed sub-groups and folded runs."""
        runs = self._runs_of(group)
        loose = [g for g in group.children.values() if id(g) not in self.in_run
                 or id(self.in_run[id(g)]) in self.unfolded]
        return loose + [r for r in runs if id(r) not in self.unfolded]

    def _open_cost(self, group):
        """Boxes added by opening `group`: its content replaces its one box."""
        return len(group.members) + len(self._items(group)) - 1

    def _candidates(self, group):
        """(cost, item) for what may open next inside the now-open `group`."""
        found, origins = [], []
        for item in self._items(group):
            if isinstance(item, Group) and item.origin:
                if self._may_open(item):
                    origins.append(item)
            elif isinstance(item, Group):
                if self._may_open(item):
                    found.append((self._open_cost(item), ("group", item)))
            else:
                # a repetition is shown whole or folded: opening only some of its groups
                # would spend the budget on many half-drawn copies of one pattern
                if self.max_open_depth is None:
                    found.append((sum(g.size for g in item) - 1, ("run", item)))
        if origins:  # all or none, so that sibling weights look alike
            found.append((sum(self._open_cost(g) for g in origins), ("origins", origins)))
        return found

    # --- the result ------------------------------------------------------------------------
    def _plan(self):
        boxes, owner, notes = [], {}, []
        stack = [self.root]
        while stack:
            group = stack.pop()
            for item in self._items(group):
                if isinstance(item, Group) and id(item) in self.opened:
                    stack.append(item)
                elif isinstance(item, Group):
                    boxes.append(self._box("group", item.label, [item], group))
                else:
                    boxes.append(self._box("run", run_label(item), item, group))
        for box in boxes:
            for node in box.nodes:
                owner[id(node)] = box
            notes.append(_note(box))
        return Plan(self.root, self.opened, boxes, owner, bool(boxes), notes)

    def _box(self, kind, label, groups, parent):
        nodes = [n for g in groups for n in g.nodes()]
        box = Box(f"scope_{_safe('/'.join(groups[0].key))}", kind, label, nodes, parent,
                  groups[0].derivative)
        box.outputs = sum(1 for n in nodes if id(n) in self.outputs)
        return box

    def _banded(self):
        """The top level alone is too large: fold its items into bands by depth."""
        level = _levels(self.order)
        items = [("node", n) for n in self.root.members]
        items += [("groups", [g]) for g in self.root.children.values() if id(g) not in self.in_run]
        items += [("groups", run) for run in self._runs_of(self.root)]

        def key(item):
            nodes = [item[1]] if item[0] == "node" else [n for g in item[1] for n in g.nodes()]
            derivative = any(n.derivative_of is not None for n in nodes)
            return derivative, min(level[id(n)] for n in nodes), nodes

        keyed = [key(item) for item in items]
        single = {id(item[1]) for item in items if item[0] == "node"}
        # a third of the budget: a chain of bands reads best short (they are big boxes)
        target = max(self.budget // 3, 2)
        width = 1
        while len({(d, lv // width) for d, lv, _ in keyed}) > target:
            width *= 2
        bands = collections.defaultdict(list)
        for derivative, lv, nodes in keyed:
            bands[(derivative, lv // width)].append(nodes)
        boxes, owner, notes = [], {}, []
        for (derivative, band), members in sorted(bands.items()):
            nodes = [n for part in members for n in part]
            if len(nodes) == 1 and id(nodes[0]) in single:
                continue  # a band of one loose node: drawn as itself
            low, high = band * width, band * width + width - 1
            box = Box(f"band_{int(derivative)}_{band}", "band",
                      f"{'gradient' if derivative else 'forward'}, depth {low}-{high}",
                      nodes, self.root, derivative)
            box.outputs = sum(1 for n in nodes if id(n) in self.outputs)
            boxes.append(box)
            for node in nodes:
                owner[id(node)] = box
        if boxes:
            notes.append(f"{len(boxes)} bands: the top level had {len(items)} items, too many "
                         f"to draw; each band holds the nodes at {width} consecutive depths")
        return Plan(self.root, {id(self.root)}, boxes, owner, True, notes)


def _levels(order):
    """id(node) -> longest path from a leaf, within `order`; a leaf sits just below its
    first use, so that constants fall into the band of the ops that use them."""
    level = {}
    for node in order:
        level[id(node)] = 1 + max((level[id(c)] for c in node.children if id(c) in level),
                                  default=-1)
    first_use = {}
    for node in order:
        for child in node.children:
            if not child.children and id(child) in level:
                first_use[id(child)] = min(first_use.get(id(child), level[id(node)]),
                                           level[id(node)])
    for key, use in first_use.items():
        level[key] = use - 1
    return level


def _note(box):
    outputs = f", {plural(box.outputs, 'output')}" if box.outputs else ""
    return f"{box.label}: {plural(len(box.nodes), 'node')}{outputs}"


def plural(count, noun):
    """``"1 output"``, ``"3 outputs"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def content_summary(nodes, limit=3):
    """``"Add x40, Mul x35, Tanh x20, ..."``: the most frequent ops among `nodes`."""
    counts = collections.Counter(n.label for n in nodes)
    parts = [f"{label} x{count}" for label, count in counts.most_common(limit)]
    return ", ".join(parts) + (", ..." if len(counts) > limit else "")


def _safe(text):
    return "".join(ch if ch.isalnum() else "_" for ch in text)
