//! Prompt bundles in a real browser: a chat prompt written message by message (reordered, roles
//! changed) with its model settings and variable types, stored exactly as edited; the run form
//! built from a contract, sending typed values; the folder tree filtering the library; and
//! composition: an include picked and linked, "used by", and an edit's impact before saving.

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;

use crate::api::{self, ADMIN_EMAIL, ADMIN_PASSWORD, Api};
use crate::app::{self, select, wait_until};
use crate::browser::{Browser, Viewport};
use crate::server;

/// The keys of the message editor's rows, in the order shown (from their `msg-KEY-up` buttons).
async fn message_keys(browser: &Browser) -> Vec<String> {
    let script = "return [...document.querySelectorAll('[data-testid=message-item] button[id$=\"-up\"]')] \
                  .map(b => b.id.slice(4, -3));";
    let keys = browser.execute(script, vec![]).await;
    keys.as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_owned()).collect()
}

/// Waits until the editor shows `n` message rows and returns their keys.
async fn wait_for_messages(browser: &Browser, n: usize) -> Vec<String> {
    app::wait_for_count(browser, "[data-testid=message-item]", n).await;
    message_keys(browser).await
}

/// The id of the focused element.
/// Waits until the element with id `id` has the focus: the page moves it on the next
/// animation frame, after the DOM has changed.
async fn wait_for_focus(browser: &Browser, id: &str) {
    let script = "return !!document.activeElement && document.activeElement.id === arguments[0];";
    wait_until(browser, script, vec![json!(id)], &format!("the focus on #{id}")).await;
}

/// Waits until the element with id `id` shows `text` (a field's error message, say).
async fn wait_for_text_in(browser: &Browser, id: &str, text: &str) {
    let script =
        "const e = document.getElementById(arguments[0]); return !!e && e.innerText.includes(arguments[1]);";
    wait_until(browser, script, vec![json!(id), json!(text)], &format!("#{id} to say {text:?}")).await;
}

/// Saves a screenshot (see [`Browser::screenshot`]) with the element matching `css` at the top.
async fn screenshot_of(browser: &Browser, css: &str, name: &str) {
    let script = "if (document.activeElement) document.activeElement.blur(); \
                  document.querySelector(arguments[0]).scrollIntoView();";
    browser.execute(script, vec![json!(css)]).await;
    browser.screenshot(name).await;
}

/// Empties the input with id `id` as a person deleting its text does (an `input` event fires).
async fn empty(browser: &Browser, id: &str) {
    let script = "const e = document.getElementById(arguments[0]); e.value = ''; \
                  e.dispatchEvent(new Event('input', { bubbles: true }));";
    browser.execute(script, vec![json!(id)]).await;
}

/// Waits until the app shows a prompt's own page (`/prompts/<uuid>`) and returns its id.
async fn wait_for_prompt_page(browser: &Browser) -> String {
    let script = r"return /^\/prompts\/[0-9a-f-]{36}$/.test(location.pathname);";
    wait_until(browser, script, vec![], "a prompt's page").await;
    browser.path().await.trim_start_matches("/prompts/").to_owned()
}

#[tokio::test]
async fn a_chat_prompt_is_written_reordered_and_stored_as_edited() {
    let server = server::start();
    let admin = Api::admin(&server.url).await;
    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    browser.goto("/prompts/new").await;
    browser.fill("prompt-name", "support/triage-chat").await;
    browser.fill("prompt-title", "Triage a support chat").await;
    // A chat starts as one message; the first is made the system's.
    browser.click("#prompt-kind-chat").await;
    let keys = wait_for_messages(&browser, 1).await;
    let system = keys[0].clone();
    select(&browser, &format!("msg-{system}-role"), "system").await;
    let instructions = "You support customers of {{product}}. Answer in {{language}}.";
    browser.fill(&format!("msg-{system}-content"), instructions).await;
    // A placeholder for the conversation so far, then the customer's message.
    browser.click("#messages-add-placeholder").await;
    let keys = wait_for_messages(&browser, 2).await;
    let history = keys[1].clone();
    assert_eq!(app::value_of(&browser, &format!("msg-{history}-placeholder")).await, "history");
    browser.click("#messages-add").await;
    let keys = wait_for_messages(&browser, 3).await;
    let user = keys[2].clone();
    assert_eq!(app::value_of(&browser, &format!("msg-{user}-role")).await, "user", "turns alternate");
    browser.fill(&format!("msg-{user}-content"), "{{question}}").await;

    // Move the customer's message up, above the history, and down again; the focus stays on it.
    browser.click(&format!("#msg-{user}-up")).await;
    wait_until(
        &browser,
        "return [...document.querySelectorAll('[data-testid=message-item] legend')].map(l => l.innerText.trim()).join('|') \
         === 'Message 1|Message 2|Placeholder 3';",
        vec![],
        "the user message to be second",
    )
    .await;
    assert_eq!(message_keys(&browser).await, [system.clone(), user.clone(), history.clone()]);
    wait_for_focus(&browser, &format!("msg-{user}-up")).await;
    browser.wait_for_text("Moved to position 2 of 3.").await;
    // At the bottom its "down" button is disabled, so the focus goes to "up".
    browser.click(&format!("#msg-{user}-down")).await;
    let order = [system.clone(), history.clone(), user.clone()];
    let script = "return [...document.querySelectorAll('[data-testid=message-item] button[id$=\"-up\"]')] \
                  .map(b => b.id.slice(4, -3)).join() === arguments[0];";
    wait_until(&browser, script, vec![json!(order.join(","))], "the user message to be last again").await;
    wait_for_focus(&browser, &format!("msg-{user}-up")).await;
    // The keyboard moves it too: Enter on the focused "up" button.
    browser
        .client()
        .find(Locator::Id(&format!("msg-{user}-up")))
        .await
        .unwrap()
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    wait_until(
        &browser,
        script,
        vec![json!([system.clone(), user.clone(), history.clone()].join(","))],
        "a move by keyboard",
    )
    .await;
    browser
        .client()
        .find(Locator::Id(&format!("msg-{user}-down")))
        .await
        .unwrap()
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    wait_until(&browser, script, vec![json!(order.join(","))], "a move back by keyboard").await;
    // The instructions become the developer's.
    select(&browser, &format!("msg-{system}-role"), "developer").await;
    // No value types yet: they come with the first save.
    browser.wait_for_text("New variables, typed when you save:").await;
    browser.assert_accessible().await;
    screenshot_of(&browser, "fieldset.messages-editor", "chat-editor").await;

    browser.click_button("Save").await;
    let id = wait_for_prompt_page(&browser).await;
    browser.wait_for_text("version 1").await;
    let (status, stored) = admin.get(&format!("/api/v1/prompts/{id}")).await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["kind"], "chat");
    assert_eq!(
        stored["messages"],
        json!([
            {"role": "developer", "content": instructions},
            {"placeholder": "history"},
            {"role": "user", "content": "{{question}}"},
        ])
    );
    let contract: Vec<(&str, &str)> = stored["contract"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        contract,
        [("product", "string"), ("language", "string"), ("history", "messages"), ("question", "string")]
    );
    // The saved prompt's editor shows the same three entries.
    wait_for_messages(&browser, 3).await;

    // Model settings: JSON that does not parse is refused here, before anything is sent.
    browser.click("#settings-section > summary").await;
    browser.fill("settings-model", "gpt-4o-mini").await;
    browser.fill("settings-temperature", "0.3").await;
    browser.fill("settings-stop", "END").await;
    browser.click("#settings-tool-add").await;
    let tool = browser.wait_for("[data-testid=tool-item] input[id$=\"-name\"]").await;
    let tool_key = tool
        .attr("id")
        .await
        .unwrap()
        .unwrap()
        .trim_start_matches("tool-")
        .trim_end_matches("-name")
        .to_owned();
    browser.fill(&format!("tool-{tool_key}-name"), "lookup_order").await;
    browser.fill(&format!("tool-{tool_key}-description"), "Finds an order by its number").await;
    browser.fill(&format!("tool-{tool_key}-parameters"), "{\"type\": \"object\", \"properties\": {").await;
    browser.click_button("Save").await;
    wait_for_text_in(&browser, &format!("tool-{tool_key}-parameters-error"), "is not valid JSON").await;
    let invalid = "return document.getElementById(arguments[0]).getAttribute('aria-invalid') === 'true';";
    wait_until(
        &browser,
        invalid,
        vec![json!(format!("tool-{tool_key}-parameters"))],
        "the parameters marked",
    )
    .await;
    assert_eq!(admin.get(&format!("/api/v1/prompts/{id}")).await.1["version"], 1, "nothing was sent");
    // JSON, but not a JSON Schema: the server's error shows by the same field.
    browser.fill(&format!("tool-{tool_key}-parameters"), "{\"type\": \"object\", \"properties\": 5}").await;
    browser.click_button("Save").await;
    wait_for_text_in(&browser, &format!("tool-{tool_key}-parameters-error"), "JSON Schema").await;
    assert_eq!(admin.get(&format!("/api/v1/prompts/{id}")).await.1["version"], 1);
    browser.assert_accessible().await;
    let parameters =
        json!({"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]});
    browser.fill(&format!("tool-{tool_key}-parameters"), &parameters.to_string()).await;

    // The contract: the language becomes one of a list, with a default.
    select(&browser, "spec-language-type", "enum").await;
    browser.fill("spec-language-values", "English\nFrench").await;
    browser.fill("spec-language-default", "English").await;
    browser.fill("spec-language-description", "The customer's language").await;
    browser.click("#spec-language-required").await;
    browser.click_button("Save").await;
    browser.wait_for_text("Saved as version 2.").await;
    let (_, stored) = admin.get(&format!("/api/v1/prompts/{id}")).await;
    assert_eq!(
        stored["settings"],
        json!({
            "model": "gpt-4o-mini",
            "temperature": 0.3,
            "stop": ["END"],
            "tools": [{"name": "lookup_order", "description": "Finds an order by its number", "parameters": parameters}],
        })
    );
    assert_eq!(
        stored["contract"][1],
        json!({"name": "language", "type": "enum", "required": false, "default": "English",
               "description": "The customer's language", "values": ["English", "French"]})
    );
    assert_eq!(stored["contract"][0]["type"], "string", "the unchanged specs are kept");
    assert_eq!(stored["messages"].as_array().unwrap().len(), 3, "the messages are kept");
    browser.assert_accessible().await;

    // The history shows a version's messages and settings.
    browser.click(r#"a.button[href$="/history"]"#).await;
    browser.wait_for_path(&format!("/prompts/{id}/history")).await;
    browser.click_button("Show").await;
    browser.wait_for("#version-detail #version-messages-view").await;
    let roles = app::texts(&browser, "#version-messages-view li .badge-role").await;
    assert_eq!(roles, ["developer", "placeholder", "user"]);
    browser.wait_for_text("lookup_order").await;
    browser.assert_accessible().await;
}

#[tokio::test]
async fn the_run_form_is_built_from_the_contract_and_sends_typed_values() {
    let server = server::start();
    let admin = Api::admin(&server.url).await;
    let prompt = admin
        .create_prompt(json!({
            "name": "reports/weekly",
            "title": "Weekly report",
            "kind": "chat",
            "messages": [
                {"role": "system", "content": "Write {{count}} points, {{tone}}. Urgent: {{urgent}}. Budget {{budget}}. Data {{data}}."},
                {"placeholder": "history"},
                {"role": "user", "content": "Summarise the week for {{owner}}."},
            ],
            "contract": [
                {"name": "count", "type": "integer", "default": 3, "description": "How many bullet points"},
                {"name": "tone", "type": "enum", "values": ["formal", "casual"], "default": "formal"},
                {"name": "urgent", "type": "boolean", "required": false, "default": false},
                {"name": "budget", "type": "number", "required": false, "example": 12.5},
                {"name": "data", "type": "json", "required": false},
                {"name": "owner", "type": "string", "description": "Who reads the report"},
            ],
        }))
        .await;
    let id = prompt["id"].as_str().unwrap().to_owned();
    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.goto(&format!("/prompts/{id}")).await;
    browser.wait_for("#run-var-count").await;

    // Each variable gets the input its type wants, its default filled in.
    let kinds = browser
        .execute(
            "const e = id => document.getElementById(id); \
             return ['count', 'tone', 'urgent', 'budget', 'data', 'history', 'owner'] \
               .map(n => { const x = e('run-var-' + n); return x.tagName.toLowerCase() + (x.type ? ':' + x.type : ''); });",
            vec![],
        )
        .await;
    assert_eq!(
        kinds,
        json!([
            "input:number",
            "select:select-one",
            "input:checkbox",
            "input:number",
            "textarea:textarea",
            "fieldset:fieldset",
            "textarea:textarea"
        ])
    );
    assert_eq!(app::value_of(&browser, "run-var-count").await, "3");
    assert_eq!(app::value_of(&browser, "run-var-tone").await, "formal");
    let options = browser
        .execute("return [...document.getElementById('run-var-tone').options].map(o => o.value);", vec![])
        .await;
    assert_eq!(options, json!(["", "formal", "casual"]));
    let placeholder =
        browser.execute("return document.getElementById('run-var-budget').placeholder;", vec![]).await;
    assert_eq!(placeholder, "e.g. 12.5", "the example is a hint");
    // Required without a default is marked; a description is the input's help.
    let owner = browser
        .execute(
            "const o = document.getElementById('run-var-owner'); \
             return [o.getAttribute('aria-required'), document.querySelector('label[for=run-var-owner]').innerText];",
            vec![],
        )
        .await;
    assert_eq!(owner[0], "true");
    assert!(owner[1].as_str().unwrap().contains("(required)"), "{owner}");
    let help = browser
        .execute(
            "const ids = document.getElementById('run-var-count').getAttribute('aria-describedby').split(' '); \
             return ids.map(i => document.getElementById(i)).filter(e => e && e.innerText).map(e => e.innerText).join('|');",
            vec![],
        )
        .await;
    assert_eq!(help, "How many bullet points");

    // Fill them in, a conversation for the placeholder included.
    browser.fill("run-var-count", "5").await;
    select(&browser, "run-var-tone", "casual").await;
    browser.click("#run-var-urgent").await;
    browser.fill("run-var-budget", "12.5").await;
    browser.fill("run-var-data", r#"{"sales": [1, 2]}"#).await;
    browser.fill("run-var-owner", "Ada").await;
    browser.click("#run-var-history-add").await;
    let first = browser.wait_for("[id^=run-var-history-content-]").await.attr("id").await.unwrap().unwrap();
    browser.fill(&first, "How did the launch go?").await;
    browser.click("#run-var-history-add").await;
    app::wait_for_count(&browser, "[id^=run-var-history-content-]", 2).await;
    let second = app::texts(&browser, "#run-var-history li").await.len();
    assert_eq!(second, 2);
    let ids = browser
        .execute(
            "return [...document.querySelectorAll('[id^=run-var-history-content-]')].map(e => e.id) \
               .concat([...document.querySelectorAll('[id^=run-var-history-role-]')].map(e => e.id));",
            vec![],
        )
        .await;
    let (second_content, second_role) = (ids[1].as_str().unwrap(), ids[3].as_str().unwrap());
    assert_eq!(app::value_of(&browser, second_role).await, "assistant", "turns alternate");
    browser.fill(second_content, "It went well.").await;
    browser.assert_accessible().await;
    screenshot_of(&browser, "section.ai-tools", "run-form").await;

    // What the page sends is recorded on its way out.
    browser
        .execute(
            "window.sentBodies = []; const original = window.fetch; \
             window.fetch = function (input, init) { \
               if (input instanceof Request) { input.clone().text().then(t => window.sentBodies.push([input.url, t])); } \
               return original.apply(this, arguments); };",
            vec![],
        )
        .await;
    browser.click("#run-preview-button").await;
    browser.wait_for("#run-preview [data-testid=preview-message]").await;
    let sent = browser
        .execute(
            "const r = (window.sentBodies || []).find(([url]) => url.endsWith('/render')); return r ? JSON.parse(r[1]) : null;",
            vec![],
        )
        .await;
    assert_eq!(
        sent["variables"],
        json!({
            "count": 5,
            "tone": "casual",
            "urgent": true,
            "budget": 12.5,
            "data": {"sales": [1, 2]},
            "owner": "Ada",
            "history": [
                {"role": "user", "content": "How did the launch go?"},
                {"role": "assistant", "content": "It went well."},
            ],
        }),
        "typed values, not strings"
    );
    // The server filled the prompt with them: what a run sends.
    let messages = browser
        .execute(
            "return [...document.querySelectorAll('#run-preview [data-testid=preview-message]')] \
               .map(li => [li.dataset.role, li.querySelector('pre').innerText]);",
            vec![],
        )
        .await;
    assert_eq!(
        messages,
        json!([
            ["system", "Write 5 points, casual. Urgent: true. Budget 12.5. Data {\"sales\":[1,2]}."],
            ["user", "How did the launch go?"],
            ["assistant", "It went well."],
            ["user", "Summarise the week for Ada."],
        ])
    );

    // A value of the wrong type is caught here; a missing one by the server. Both show by the input.
    browser.fill("run-var-count", "2.5").await;
    browser.click("#run-preview-button").await;
    wait_for_text_in(&browser, "run-var-count-error", "must be a whole number").await;
    browser.fill("run-var-count", "4").await;
    empty(&browser, "run-var-owner").await;
    browser.click("#run-preview-button").await;
    wait_for_text_in(&browser, "run-var-owner-error", "has no value").await;
    let invalid = browser
        .execute("return document.getElementById('run-var-owner').getAttribute('aria-invalid');", vec![])
        .await;
    assert_eq!(invalid, "true");
    assert_eq!(
        browser.execute("return document.getElementById('run-var-count-error').innerText;", vec![]).await,
        "",
        "the fixed value is no longer marked"
    );
    browser.assert_accessible().await;

    // The message editor and the run form fit a 375 px phone.
    drop(browser);
    let phone = Browser::launch(&server.url, Viewport::PHONE).await;
    app::sign_in(&phone, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    phone.goto(&format!("/prompts/{id}")).await;
    phone.wait_for("#run-var-history-add").await;
    phone.click("#run-var-history-add").await;
    phone.wait_for("[data-testid=message-item]").await;
    app::assert_fits_sideways(&phone).await;
    phone.assert_accessible().await;
}

/// Waits until the library lists exactly the prompts named `names`, in any order.
async fn wait_for_names(browser: &Browser, names: &[&str]) {
    let mut want: Vec<&str> = names.to_vec();
    want.sort_unstable();
    let script = "const names = [...document.querySelectorAll('li.prompt-item .prompt-name')] \
                  .map(e => e.innerText.trim()).sort(); \
                  return JSON.stringify(names) === JSON.stringify(arguments[0]);";
    wait_until(browser, script, vec![json!(want)], &format!("the library to list {names:?}")).await;
}

#[tokio::test]
async fn the_folder_tree_filters_the_library() {
    let server = server::start();
    let admin = Api::admin(&server.url).await;
    let seeded = api::seed_library(&admin).await;
    admin
        .create_prompt(json!({"name": "support/emails/escalation", "title": "Escalate a ticket",
            "content": "Escalate ticket {{ticket}} to the second line."}))
        .await;
    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    app::wait_for_count(&browser, "li.prompt-item", seeded.len() + 1).await;

    // The top-level folders, each with how many prompts it holds (subfolders included).
    browser.wait_for("nav.folder-tree [data-folder=support]").await;
    let top = app::texts(&browser, "nav.folder-tree > ul > li > .folder-row .folder-button").await;
    assert_eq!(top, ["engineering 2 prompts", "marketing 1 prompt", "support 3 prompts", "writing 1 prompt"]);
    browser.assert_accessible().await;

    browser.click("[data-folder=support]").await;
    wait_for_names(&browser, &["support/welcome", "support/refund-reply", "support/emails/escalation"]).await;
    wait_until(
        &browser,
        "return location.search === '?folder=support';",
        vec![],
        "the folder in the address",
    )
    .await;
    let current = browser
        .execute("return [...document.querySelectorAll('nav.folder-tree [aria-current=true]')].map(b => b.dataset.folder || b.id);", vec![])
        .await;
    assert_eq!(current, json!(["support"]));

    // Only this folder, not the ones below it.
    browser.click("#folder-subfolders").await;
    wait_for_names(&browser, &["support/welcome", "support/refund-reply"]).await;
    browser.click("#folder-subfolders").await;

    // Its subfolders open with the keyboard: Enter on its toggle.
    let toggle = browser.wait_for("button.folder-toggle[aria-controls=\"folder-children-support\"]").await;
    assert_eq!(toggle.attr("aria-expanded").await.unwrap().as_deref(), Some("false"));
    toggle.send_keys(&Key::Enter.to_string()).await.unwrap();
    browser.wait_for("#folder-children-support [data-folder=\"support/emails\"]").await;
    assert_eq!(toggle.attr("aria-expanded").await.unwrap().as_deref(), Some("true"));
    let emails = browser.wait_for("[data-folder=\"support/emails\"]").await;
    emails.send_keys(&Key::Enter.to_string()).await.unwrap();
    wait_for_names(&browser, &["support/emails/escalation"]).await;
    browser.assert_accessible().await;
    app::screenshot(&browser, "library-folders").await;

    // Prompts in no folder, then all again.
    browser.click("#folder-top").await;
    wait_for_names(&browser, &["sales-notes"]).await;
    browser.click("#folder-all").await;
    app::wait_for_count(&browser, "li.prompt-item", seeded.len() + 1).await;
    wait_until(&browser, "return location.search === '';", vec![], "no folder in the address").await;

    // An address with a folder opens the tree down to it.
    browser.goto("/prompts?folder=support%2Femails").await;
    wait_for_names(&browser, &["support/emails/escalation"]).await;
    let current = browser
        .execute(
            "return [...document.querySelectorAll('nav.folder-tree [aria-current=true]')].map(b => b.dataset.folder);",
            vec![],
        )
        .await;
    assert_eq!(current, json!(["support/emails"]));
    // Filters combine: a search inside the folder.
    browser.fill("prompt-search", "welcome").await;
    browser.wait_for_text("No prompts match").await;
}

#[tokio::test]
async fn includes_are_picked_and_linked_and_an_edits_impact_shows_before_saving() {
    let server = server::start();
    let admin = Api::admin(&server.url).await;
    let tone = admin
        .create_prompt(
            json!({"name": "snippets/tone", "title": "House tone", "content": "Be warm and brief."}),
        )
        .await;
    let tone_path = format!("/api/v1/prompts/{}", tone["id"].as_str().unwrap());
    let (status, edited) =
        admin.patch(&tone_path, json!({"content": "Be warm, brief and kind.", "version": 1})).await;
    assert_eq!((status, edited["version"].clone()), (200, json!(2)), "{edited}");
    admin
        .create_prompt(json!({"name": "sales/pitch", "title": "Sales pitch", "template_format": "logic",
            "content": "{% include \"snippets/tone@1\" %}\nPitch {{product}}."}))
        .await;
    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // A new prompt includes the snippet, chosen with the keyboard; the tag goes at the cursor
    // (the end of the typed text) and makes the template a logic one.
    browser.goto("/prompts/new").await;
    browser.fill("prompt-name", "support/reply").await;
    browser.fill("prompt-title", "Reply to a customer").await;
    browser.fill("prompt-content", "Answer {{question}}.\n").await;
    browser.wait_for_text("No includes.").await;
    browser.click(".include-picker > summary").await;
    browser.fill("include-search", "house").await;
    let choice = browser.wait_for("button[data-include=\"snippets/tone\"]").await;
    assert!(
        browser
            .try_wait_for("button[data-include=\"sales/pitch\"]", std::time::Duration::ZERO)
            .await
            .is_err(),
        "the search narrows the list"
    );
    choice.send_keys(&Key::Enter.to_string()).await.unwrap();
    browser.wait_for("#include-follow").await;
    // Pinning needs a version the snippet has.
    browser.click("#include-pinned").await;
    browser.fill("include-version", "7").await;
    wait_until(
        &browser,
        "return document.getElementById('include-insert').disabled;",
        vec![],
        "no tag for version 7",
    )
    .await;
    browser.fill("include-version", "2").await;
    browser.wait_for_text("{% include \"snippets/tone@2\" %}").await;
    browser.click("#include-follow").await;
    browser.assert_accessible().await;
    browser.click("#include-insert").await;
    browser.wait_for_text("The template format is now Logic, which reads includes.").await;
    assert_eq!(
        app::value_of(&browser, "prompt-content").await,
        "Answer {{question}}.\n{% include \"snippets/tone\" %}"
    );
    assert_eq!(app::value_of(&browser, "prompt-format").await, "logic");
    let link = browser.wait_for(".include-list a[href=\"/prompts/snippets%2Ftone\"]").await;
    assert_eq!(link.text().await.unwrap(), "snippets/tone");
    browser.wait_for_text("follows its latest version").await;
    screenshot_of(&browser, ".includes-panel", "include-picker").await;
    browser.click_button("Save").await;
    let reply_id = wait_for_prompt_page(&browser).await;
    let (_, stored) = admin.get(&format!("/api/v1/prompts/{reply_id}")).await;
    assert_eq!(stored["template_format"], "logic");
    assert_eq!(stored["content"], "Answer {{question}}.\n{% include \"snippets/tone\" %}");

    // The link opens the snippet by its name; it lists the prompts that use it.
    browser.click(".include-list a").await;
    browser.wait_for_path("/prompts/snippets%2Ftone").await;
    wait_until(
        &browser,
        "return document.getElementById('prompt-name')?.value === 'snippets/tone';",
        vec![],
        "the snippet's editor",
    )
    .await;
    app::wait_for_count(&browser, ".used-by-list li", 2).await;
    let used_by = app::texts(&browser, ".used-by-list li").await;
    assert_eq!(
        used_by,
        [
            "Sales pitch sales/pitch — pinned to version 1",
            "Reply to a customer support/reply — follows its latest version",
        ]
    );
    browser.assert_accessible().await;

    // An edit that needs a variable the reply does not give breaks it; the pinned pitch is
    // not affected. Nothing is saved.
    browser.fill("prompt-content", "Be warm and brief; sign as {{agent}}.").await;
    browser.click("#impact-preview").await;
    browser.wait_for_text("2 prompts include this one: 1 would break, 0 would change.").await;
    let outcome = |name: &str| format!("tr[data-impact=\"{name}\"] td:nth-child(2)");
    assert_eq!(app::texts(&browser, &outcome("support/reply")).await, ["Breaks"]);
    assert_eq!(app::texts(&browser, &outcome("sales/pitch")).await, ["Pinned: not affected"]);
    let problem = app::texts(&browser, "tr[data-impact=\"support/reply\"] .impact-problem").await;
    assert!(problem[0].contains("agent"), "{problem:?}");
    browser.assert_accessible().await;
    screenshot_of(&browser, ".impact-panel", "impact-preview").await;

    // A harmless edit changes the reply; before and after are shown.
    browser.fill("prompt-content", "Be brief.").await;
    browser.click("#impact-preview").await;
    browser.wait_for_text("2 prompts include this one: 0 would break, 1 would change.").await;
    browser.click("tr[data-impact=\"support/reply\"] details > summary").await;
    let renders = app::texts(&browser, "tr[data-impact=\"support/reply\"] pre").await;
    // (Texts with their whitespace collapsed.)
    assert_eq!(renders, ["Answer <question>. Be warm, brief and kind.", "Answer <question>. Be brief."]);
    assert_eq!(admin.get(&tone_path).await.1["version"], 2, "a preview saves nothing");
}
