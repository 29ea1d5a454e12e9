// The lineage read of GET /samples/{id}/lineage, over the rows a query returns (the sample's
// family): ancestors root first, descendants as a tree in creation order. Pure, so the query
// can fetch the family in one recursive SQL and the shaping is tested without a database.

export interface LineageRow {
  readonly sampleId: string;
  readonly parentId: string | null;
  readonly createdAt: string;
}

export interface DescendantNode<S> {
  readonly sample: S;
  readonly children: DescendantNode<S>[];
}

export interface Lineage<S> {
  readonly ancestors: S[];
  readonly descendants: DescendantNode<S>[];
}

export function buildLineage<S extends LineageRow>(sampleId: string, family: readonly S[]): Lineage<S> {
  const byId = new Map(family.map((row) => [row.sampleId, row]));
  const ancestors: S[] = [];
  const seen = new Set([sampleId]);
  for (let parentId = byId.get(sampleId)?.parentId ?? null; parentId !== null;) {
    const parent = byId.get(parentId);
    // A parent outside the rows (not visible to the caller) or a cycle ends the chain.
    if (parent === undefined || seen.has(parentId)) break;
    seen.add(parentId);
    ancestors.unshift(parent);
    parentId = parent.parentId;
  }
  const childrenOf = new Map<string, S[]>();
  for (const row of family) {
    if (row.parentId === null) continue;
    const siblings = childrenOf.get(row.parentId) ?? [];
    siblings.push(row);
    childrenOf.set(row.parentId, siblings);
  }
  const visited = new Set<string>([sampleId]);
  const grow = (id: string): DescendantNode<S>[] =>
    (childrenOf.get(id) ?? [])
      .filter((child) => !visited.has(child.sampleId))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.sampleId.localeCompare(b.sampleId))
      .map((child) => {
        visited.add(child.sampleId);
        return { sample: child, children: grow(child.sampleId) };
      });
  return { ancestors, descendants: grow(sampleId) };
}
