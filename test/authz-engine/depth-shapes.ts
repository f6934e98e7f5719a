/**
 * Folder data near the depth limit (25), shared by depth-paths.test.ts and explain-check.test.ts,
 * in write order (the order matters: the first parent written is tried first):
 * - folder:o → L1 → … → L20 → X (written first) and folder:o → X; X → Y1 → … → Y10; user:v views
 *   folder:Y10 (a 12-hop path to a node a 21-hop path reaches first);
 * - folder:x, viewed by user:u, with a parent chain of 30 folders c1…c30 (nobody blocked);
 *   folder:s, viewed by user:u, with one parent d1.
 */
export function folderDepthTuples(): Array<{ user: string; relation: string; object: string }> {
  const w: Array<{ user: string; relation: string; object: string }> = [];
  const parent = (child: string, p: string) => w.push({ user: `folder:${p}`, relation: 'parent', object: `folder:${child}` });
  parent('o', 'L1');
  for (let i = 1; i < 20; i++) parent(`L${i}`, `L${i + 1}`);
  parent('L20', 'X');
  parent('o', 'X');
  parent('X', 'Y1');
  for (let i = 1; i < 10; i++) parent(`Y${i}`, `Y${i + 1}`);
  w.push({ user: 'user:v', relation: 'viewer', object: 'folder:Y10' });
  w.push({ user: 'user:u', relation: 'viewer', object: 'folder:x' });
  parent('x', 'c1');
  for (let i = 1; i < 30; i++) parent(`c${i}`, `c${i + 1}`);
  w.push({ user: 'user:u', relation: 'viewer', object: 'folder:s' });
  parent('s', 'd1');
  return w;
}
