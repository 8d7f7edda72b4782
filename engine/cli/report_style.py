"""The HTML report's inline style and its one script (kept beside `report`, which renders the page)."""

CSS = """
:root{--pass:#1b7f3b;--fail:#b42318;--ink:#1d2433;--muted:#667085;--line:#d0d5dd;--bg:#f6f7f9}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
header{padding:20px 28px;background:#fff;border-bottom:1px solid var(--line)}
h1{margin:0 0 4px;font-size:22px}h2{margin:0 0 6px;font-size:18px}h3{margin:14px 0 6px;font-size:14px}
main{padding:16px 28px;max-width:1400px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:0 0 18px}
.path,.muted{color:var(--muted);margin:0 0 10px;word-break:break-all}
.error{color:var(--fail);white-space:pre-wrap}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;vertical-align:middle}
.badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}
.score{font-size:14px;font-weight:400;color:var(--muted);margin-left:8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:5px 8px;border-bottom:1px solid #eaecf0}
thead th{background:#f2f4f7;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.metrics td{border-bottom:1px solid var(--line);padding-top:0}
table.kv th{width:32%;font-weight:500;color:#344054;word-break:break-all}
table.kv td{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
details summary{cursor:pointer;color:var(--muted);font-size:12px}
.timeline{margin-top:8px}
.track{display:grid;grid-template-columns:260px 1fr;gap:10px;align-items:center;margin:4px 0}
.track .label{font-size:12px;word-break:break-all}.track small{color:var(--muted)}
.bar{position:relative;height:22px;background:#eef1f5;border-radius:4px;overflow:hidden}
.range{position:absolute;top:3px;bottom:3px;background:#e8590c;border-radius:3px;opacity:.85}
.moment{position:absolute;top:0;bottom:0;width:2px;margin-left:-1px;background:#5f3dc4}
.axis{position:relative;height:18px;margin-left:270px;font-size:11px;color:var(--muted)}
.axis span{position:absolute;transform:translateX(-50%);white-space:nowrap}
.axis span:first-child{transform:none}.axis span:last-child{transform:translateX(-100%)}
.thumbs{display:flex;flex-wrap:wrap;gap:10px;margin-top:12px}
figure{margin:0;padding:6px;background:#f2f4f7;border-radius:6px;max-width:210px}
figure img{display:block;max-width:192px;height:auto;background:#000}
figcaption{font-size:11px;color:var(--muted);margin-top:4px;word-break:break-all}
"""

# Marks the page once every image has decoded, so a headless browser (and the report's test)
# can tell that the thumbnails loaded: data-images="loaded/total".
SCRIPT = (
    'addEventListener("load",function(){var a=Array.prototype.slice.call(document.images);'
    'var ok=a.filter(function(i){return i.complete&&i.naturalWidth>0}).length;'
    'document.documentElement.setAttribute("data-images",ok+"/"+a.length)});'
)
