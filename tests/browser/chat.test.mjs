// The web client at `/` of a running local server, driven in headless
// Chromium by two users (two browser contexts: two sessions, two sockets).
// Usage: node chat.test.mjs http://127.0.0.1:3000   (the server's root)
// Exits non-zero at the first failed check; screenshots go to ./out/.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const base = (process.argv[2] || "http://127.0.0.1:3000").replace(/\/api\/v1\/?$/, "");
const out = new URL("./out/", import.meta.url).pathname;
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // This machine's network is closed: keep Chromium from calling home.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

const results = [];
async function check(name, fn) {
  const started = Date.now();
  await fn();
  const ms = Date.now() - started;
  results.push(`ok   ${name} (${ms} ms)`);
  console.log(`ok   ${name} (${ms} ms)`);
}

async function signIn(user) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  const page = await context.newPage();
  page.on("pageerror", (err) => {
    console.error(`[${user}] page error: ${err.message}`);
    process.exitCode = 1;
  });
  await page.goto(base + "/");
  await page.click(`#sample-users button[data-user="${user}"]`);
  await page.waitForSelector('#status[data-state="online"]');
  return page;
}

const messageIn = (page, text) => page.locator("#messages .msg", { hasText: text });

let alice;
let bob;
const channelName = "Weekend plans";
try {
  await check("two users sign in and connect", async () => {
    alice = await signIn("alice");
    bob = await signIn("bob");
  });

  await check("alice creates a channel with bob; it appears in bob's list", async () => {
    await alice.fill('#new-channel input[name="name"]', channelName);
    await alice.fill('#new-channel input[name="members"]', "bob");
    await alice.click('#new-channel button[type="submit"]');
    await alice.waitForSelector("#composer:not([hidden])");
    await bob.locator("#channels li", { hasText: channelName }).waitFor({ timeout: 5000 });
  });

  await check("a message shows in the other user's unread count", async () => {
    await alice.fill("#text", "before bob looks");
    await alice.press("#text", "Enter");
    await messageIn(alice, "before bob looks").waitFor();
    const badge = bob.locator("#channels li", { hasText: channelName }).locator(".unread");
    await badge.waitFor({ timeout: 5000 });
    assert.equal(await badge.textContent(), "1");
    // Bob's client received it (not read): one tick for alice.
    await messageIn(alice, "before bob looks").locator('.ticks[data-ticks="delivered"]').waitFor({ timeout: 3000 });
  });

  await check("bob opens the channel: history, unread cleared, alice online", async () => {
    await bob.locator("#channels li", { hasText: channelName }).click();
    await messageIn(bob, "before bob looks").waitFor();
    assert.equal(await bob.locator("#channels li.active .unread").count(), 0);
    // Read: two ticks.
    await messageIn(alice, "before bob looks").locator('.ticks[data-ticks="read"]').waitFor({ timeout: 3000 });
    await bob.waitForSelector('#presence .member[data-user="alice"][data-online="true"]');
    await alice.waitForSelector('#presence .member[data-user="bob"][data-online="true"]');
  });

  await check("a message from alice appears for bob within a second", async () => {
    await alice.fill("#text", "hello bob");
    const sent = Date.now();
    await alice.press("#text", "Enter");
    await messageIn(bob, "hello bob").waitFor({ timeout: 1000 });
    const elapsed = Date.now() - sent;
    console.log(`     delivered in ${elapsed} ms`);
    assert.ok(elapsed < 1000, `took ${elapsed} ms`);
  });

  await check("alice schedules a message: listed for her alone, then delivered to bob when due", async () => {
    await alice.fill("#text", "sent fifteen seconds later");
    await alice.selectOption("#when", "15");
    await alice.press("#text", "Enter");
    await alice.locator("#scheduled li", { hasText: "sent fifteen seconds later" }).waitFor({ timeout: 3000 });
    assert.equal(await bob.locator("#scheduled li").count(), 0);
    assert.equal(await messageIn(bob, "sent fifteen seconds later").count(), 0);
    await messageIn(bob, "sent fifteen seconds later").waitFor({ timeout: 20000 });
    await alice.locator("#scheduled li").waitFor({ state: "detached", timeout: 3000 });
  });

  await check("bob typing shows an indicator to alice, and it clears on send", async () => {
    await bob.click("#text");
    await bob.keyboard.type("hi al", { delay: 30 });
    await alice.waitForFunction(() => /Bob is typing/.test(document.querySelector("#typing").textContent), null, { timeout: 3000 });
    await bob.keyboard.type("ice");
    await bob.press("#text", "Enter");
    await messageIn(alice, "hi alice").waitFor();
    await alice.waitForFunction(() => document.querySelector("#typing").textContent === "", null, { timeout: 3000 });
  });

  await check("an image uploaded through the presigned URL shows inline for both", async () => {
    // A real PNG, drawn by the browser itself.
    const dataUrl = await alice.evaluate(() => {
      const canvas = document.createElement("canvas");
      canvas.width = 120;
      canvas.height = 80;
      const g = canvas.getContext("2d");
      g.fillStyle = "#3760c8";
      g.fillRect(0, 0, 120, 80);
      g.fillStyle = "#fff";
      g.font = "bold 28px sans-serif";
      g.fillText("PNG", 30, 52);
      return canvas.toDataURL("image/png");
    });
    const buffer = Buffer.from(dataUrl.split(",")[1], "base64");
    await alice.fill("#text", "a picture");
    await alice.setInputFiles("#file", { name: "square.png", mimeType: "image/png", buffer });
    for (const page of [alice, bob]) {
      const img = messageIn(page, "a picture").locator("img.attachment");
      await img.waitFor({ timeout: 5000 });
      await page.waitForFunction((el) => el.complete && el.naturalWidth === 120, await img.elementHandle(), { timeout: 5000 });
      const src = await img.getAttribute("src");
      assert.match(src, /chat-uploads\//);
    }
  });

  await check("bob reacts; alice sees the count", async () => {
    const msg = messageIn(bob, "hello bob");
    await msg.hover();
    await msg.locator('.actions button[title="react 👍"]').click();
    await messageIn(alice, "hello bob").locator('.reactions button[data-reaction="👍"]', { hasText: "👍 1" }).waitFor();
    await messageIn(bob, "hello bob").locator(".reactions button.mine").waitFor();
  });

  await check("alice sends a poll; bob votes and alice sees the count; she closes it", async () => {
    await alice.fill("#text", "/poll Where to eat? | pizza | sushi");
    await alice.press("#text", "Enter");
    const option = (page, text) => messageIn(page, "Where to eat?").locator(`.poll button[data-option="${text}"]`);
    await option(bob, "sushi").click();
    await option(alice, "sushi").filter({ hasText: "sushi · 1" }).waitFor();
    await bob.locator('.poll button.poll-option.mine[data-option="sushi"]').waitFor();
    await messageIn(alice, "Where to eat?").locator('button[title="close poll"]').click();
    await messageIn(bob, "Where to eat?").locator(".poll-question", { hasText: "(closed)" }).waitFor();
    assert.equal(await option(bob, "pizza").isDisabled(), true);
  });

  await check("alice sends the local sample page; both see its link preview", async () => {
    const session = await (await fetch(base + "/dev/session")).json();
    await alice.fill("#text", `the trail: ${session.sample_page}`);
    await alice.press("#text", "Enter");
    for (const page of [alice, bob]) {
      const card = messageIn(page, "the trail:").locator(".link-card");
      await card.locator(".title", { hasText: "A walk on the ridge" }).waitFor();
      assert.equal(await card.locator(".site").textContent(), "Sample Trails");
      assert.equal(await card.getAttribute("href"), session.sample_page);
    }
  });

  await check("bob replies in a thread; alice sees the reply count and the reply", async () => {
    const msg = messageIn(bob, "hello bob");
    await msg.hover();
    await msg.locator('.actions button[title="reply in thread"]').click();
    await bob.waitForSelector("#thread:not([hidden])");
    await bob.fill("#reply-text", "a threaded answer");
    await bob.press("#reply-text", "Enter");
    await bob.locator("#replies .msg", { hasText: "a threaded answer" }).waitFor();
    // Alice wrote the parent: she takes part, and the reply is unread there.
    const link = messageIn(alice, "hello bob").locator(".replies-link");
    await messageIn(alice, "hello bob").locator(".replies-link.unread", { hasText: "1 reply · 1 unread" }).waitFor();
    await link.click();
    await alice.locator("#replies .msg", { hasText: "a threaded answer" }).waitFor();
    assert.equal(await messageIn(alice, "a threaded answer").count(), 0, "replies stay out of the channel");
    // Opening the thread reads it.
    await messageIn(alice, "hello bob").locator(".replies-link:not(.unread)", { hasText: "1 reply" }).waitFor();
    assert.equal(await link.textContent(), "1 reply");
    await alice.click("#close-thread");
  });

  await check("screenshots of a conversation (bob's thread open, alice typing)", async () => {
    await alice.click("#text");
    await alice.keyboard.type("see you tomorrow", { delay: 20 });
    await bob.waitForFunction(() => /Alice is typing/.test(document.querySelector("#typing").textContent));
    await bob.mouse.move(0, 0);
    await bob.screenshot({ path: `${out}bob.png` });
    await alice.screenshot({ path: `${out}alice.png` });
    await alice.fill("#text", "");
  });

  await check("alice edits and deletes her own message; bob sees both", async () => {
    const msg = messageIn(alice, "before bob looks");
    await msg.hover();
    await msg.locator('.actions button[title="edit"]').click();
    await alice.fill("#messages textarea.edit", "before bob looked (edited text)");
    await alice.press("#messages textarea.edit", "Enter");
    const edited = messageIn(bob, "edited text");
    await edited.waitFor();
    assert.match(await edited.locator(".meta").textContent(), /\(edited\)/);
    const again = messageIn(alice, "edited text");
    await again.hover();
    await again.locator('.actions button[title="delete"]').click();
    await messageIn(bob, "This message was deleted.").waitFor();
    assert.equal(await messageIn(bob, "edited text").count(), 0);
    // Only the author gets edit and delete.
    assert.equal(await messageIn(bob, "hello bob").locator('.actions button[title="edit"]').count(), 0);
  });

  await check("bob's socket drops; messages sent meanwhile arrive after the reconnect", async () => {
    await bob.evaluate(() => {
      // Keep the socket from reconnecting until the messages are sent.
      window.__realWebSocket = window.WebSocket;
      window.WebSocket = function Blocked() {
        throw new Error("offline");
      };
      window.chatDebug.dropSocket();
    });
    await bob.waitForSelector('#status[data-state="reconnecting"]');
    for (const text of ["while you were away 1", "while you were away 2"]) {
      await alice.fill("#text", text);
      await alice.press("#text", "Enter");
      await messageIn(alice, text).waitFor();
    }
    await bob.waitForTimeout(300);
    assert.equal(await messageIn(bob, "while you were away").count(), 0, "not delivered while offline");
    await bob.evaluate(() => {
      window.WebSocket = window.__realWebSocket;
    });
    await bob.waitForSelector('#status[data-state="online"]', { timeout: 10000 });
    await messageIn(bob, "while you were away 1").waitFor();
    await messageIn(bob, "while you were away 2").waitFor();
    assert.equal(await messageIn(bob, "while you were away").count(), 2, "each once");
    // And the live stream resumes.
    await alice.fill("#text", "welcome back");
    await alice.press("#text", "Enter");
    await messageIn(bob, "welcome back").waitFor({ timeout: 2000 });
  });

  await check("scrolling up loads older history", async () => {
    // 30 more messages through the API, so the channel has more than a page.
    await alice.evaluate(async () => {
      const { session, current } = window.chatDebug.state;
      for (let i = 1; i <= 30; i++) {
        await fetch("/api/v1/messages", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Api-Key": session.api_key, Authorization: `Bearer ${session.token}` },
          body: JSON.stringify({ channel_id: current, text: `filler ${i}` }),
        });
      }
    });
    await messageIn(bob, "filler 30").waitFor();
    await bob.locator("#channels li", { hasText: channelName }).click();
    await messageIn(bob, "filler 30").waitFor();
    assert.equal(await messageIn(bob, "hello bob").count(), 0, "the first page is only the latest 25");
    for (let i = 0; i < 10 && (await messageIn(bob, "hello bob").count()) === 0; i++) {
      await bob.evaluate(() => {
        const box = document.querySelector("#messages");
        box.scrollTop = 0;
        box.dispatchEvent(new Event("scroll"));
      });
      await bob.waitForTimeout(200);
    }
    await messageIn(bob, "hello bob").waitFor({ timeout: 2000 });
  });

  await check("signing in with a pasted API key and token", async () => {
    const dev = await (await fetch(`${base}/dev/session`)).json();
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(base + "/");
    // The sign-in page fills in (sample users, pushes) after it loads: wait
    // for it, and open the disclosure until it is open (a click during a
    // layout shift can land elsewhere).
    await page.locator("#sample-users button").first().waitFor();
    const details = page.locator("#login details");
    for (let i = 0; i < 10 && !(await details.evaluate((d) => d.open)); i++) {
      await page.click("#login summary");
      await page.waitForTimeout(50);
    }
    await page.fill('#token-form input[name="api_key"]', dev.api_key);
    await page.fill('#token-form input[name="token"]', dev.users.find((u) => u.id === "bob").token);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#status[data-state="online"]');
    assert.equal(await page.textContent("#me"), "Bob");
    await page.locator("#channels li", { hasText: channelName }).waitFor();
    await context.close();
  });

  await check("bob signs out; alice's message reaches his phone, shown on the sign-in page", async () => {
    await bob.click("#sign-out");
    await bob.waitForSelector("#login:not([hidden])");
    // His socket is gone once the sign-in page shows; give $disconnect a moment.
    await bob.waitForTimeout(300);
    await alice.fill("#text", "are you there, bob?");
    await alice.press("#text", "Enter");
    await messageIn(alice, "are you there, bob?").waitFor();
    const push = bob.locator("#push-list li.push", { hasText: "are you there, bob?" });
    await push.waitFor({ timeout: 6000 });
    assert.match(await push.textContent(), /firebase → bob-android/);
    await bob.screenshot({ path: `${out}bob-push.png` });
  });

  await alice.screenshot({ path: `${out}alice-end.png` });
  await bob.screenshot({ path: `${out}bob-end.png` });
  console.log(`screenshots in ${out}`);
} catch (err) {
  console.error(`FAIL ${err.stack || err}`);
  for (const [name, page] of [["alice", alice], ["bob", bob]]) {
    if (page) await page.screenshot({ path: `${out}failure-${name}.png` }).catch(() => {});
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
console.log(`${results.length} browser checks passed${process.exitCode ? ", then one failed" : ""}`);
