// vmx inbox: transcript lines seek the player; the list follows new
// voicemails through server-sent events.
(function () {
  'use strict';

  var player = document.getElementById('player');
  var segs = document.querySelectorAll('button.seg');
  if (player && segs.length) {
    segs.forEach(function (b) {
      b.addEventListener('click', function () {
        player.currentTime = parseFloat(b.dataset.start);
        var p = player.play();
        if (p) p.catch(function () {});
      });
    });
    player.addEventListener('timeupdate', function () {
      var t = player.currentTime;
      segs.forEach(function (b) {
        var on = t >= parseFloat(b.dataset.start) && t < parseFloat(b.dataset.end);
        b.classList.toggle('playing', on);
        if (on) b.setAttribute('aria-current', 'true');
        else b.removeAttribute('aria-current');
      });
    });
  }

  var live = document.getElementById('live');
  if (!live || !window.EventSource) return;
  var list = document.getElementById('list');
  var contact = live.dataset.contact;
  var timer = null;
  var inflight = false;
  var again = false;

  function shown() {
    var m = {};
    document.querySelectorAll('#list tr[data-id]').forEach(function (r) { m[r.dataset.id] = true; });
    return m;
  }

  // refresh fetches the first page again with the same filters, then marks
  // and announces the rows that were not there. One fetch at a time, so
  // that every new row is compared with the list the user saw.
  function refresh() {
    timer = null;
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    var before = shown();
    fetch('/list' + location.search, { credentials: 'same-origin' })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.text();
      })
      .then(function (html) {
        var box = document.createElement('div');
        box.innerHTML = html;
        var fresh = box.querySelector('#list');
        if (!fresh) return;
        list.replaceWith(fresh);
        list = fresh;
        var arrived = [];
        fresh.querySelectorAll('tr[data-id]').forEach(function (r) {
          if (before[r.dataset.id]) return;
          r.classList.add('arrived');
          arrived.push(r.dataset);
        });
        if (arrived.length === 1) {
          live.textContent = 'New voicemail from ' + arrived[0].caller + ' for ' + arrived[0].queue + '.';
        } else if (arrived.length > 1) {
          live.textContent = arrived.length + ' new voicemails.';
        }
      })
      .catch(function () {})
      .then(function () {
        inflight = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  var es = new EventSource('/events');
  // html[data-live] tells whether the stream is connected; tests wait on it.
  es.addEventListener('open', function () { document.documentElement.dataset.live = 'on'; });
  es.addEventListener('error', function () { document.documentElement.dataset.live = 'off'; });
  es.addEventListener('voicemail', function (e) {
    var v;
    try { v = JSON.parse(e.data); } catch (_) { return; }
    if (contact) {
      if (v.contact_id === contact && v.status !== live.dataset.status) {
        live.textContent = 'This voicemail is now ' + v.status + '. Reload the page to see the change.';
      }
      return;
    }
    if (!list) return;
    if (list.dataset.live !== '1') {
      // Later pages stay put; only what is new in the inbox is told.
      if (v.status === 'New' && !shown()[v.contact_id]) {
        live.textContent = 'New voicemail from ' + v.caller + ' for ' + v.queue + '. The first page shows it.';
      }
      return;
    }
    if (!timer) timer = setTimeout(refresh, 150);
  });
  es.addEventListener('signedout', function () {
    es.close();
    live.textContent = 'You were signed out. Reload the page to sign in again.';
  });
})();
