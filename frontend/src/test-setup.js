// jsdom has no layout: ProseMirror asks for client rects when scrolling the selection into view.
const emptyRect = () => ({ x: 0, y: 0, top: 0, left: 0, bottom: 0, right: 0, width: 0, height: 0, toJSON() {} })
const emptyList = () => {
  const list = []
  list.item = () => null
  return list
}
for (const proto of [globalThis.Range?.prototype, globalThis.Element?.prototype, globalThis.Text?.prototype]) {
  if (!proto) continue
  if (!proto.getClientRects) proto.getClientRects = emptyList
  if (!proto.getBoundingClientRect) proto.getBoundingClientRect = emptyRect
}
if (globalThis.document && !document.elementFromPoint) document.elementFromPoint = () => null
