//! Rendering a version (`cargo xtask bench`): a 50-message chat prompt in the logic format,
//! with conditionals, a loop and includes, against the same 50 messages as basic templates,
//! measured in the same run. What a render costs once its includes are read (those are
//! queries, measured with the library load).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use api::bundles::{self, Resolved, Version};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::ai::ChatRole;
use domain::bundle::{Bundle, BundleInput, ChatEntry, PromptKind};
use domain::template::TemplateFormat;
use domain::template::logic::Included;
use serde_json::{Value, json};

const MESSAGES: usize = 50;

fn message(i: usize, format: TemplateFormat) -> ChatEntry {
    let role = [ChatRole::User, ChatRole::Assistant][i % 2];
    let content = match format {
        TemplateFormat::Basic => {
            format!("Turn {i} for {{{{customer}}}} about {{{{topic}}}}: keep it {{{{tone}}}}.")
        }
        TemplateFormat::Logic => format!(
            "Turn {i} for {{{{ customer }}}}{{% if vip %}} (a valued customer){{% endif %}} about {{{{ topic }}}}.\n\
             {{% include \"snippets/tone\" %}}\n\
             {{% for item in items %}}- {{{{ item.name }}}}: {{{{ item.qty }}}}{{% if not loop.last %}}, {{% endif %}}{{% endfor %}}\n\
             {{% include \"snippets/sign-off@2\" %}}"
        ),
    };
    ChatEntry::Message { role, content }
}

fn version(format: TemplateFormat) -> Version {
    let mut messages =
        vec![ChatEntry::Message { role: ChatRole::System, content: "You are helpful.".into() }];
    messages.extend((1..MESSAGES).map(|i| message(i, format)));
    let input = BundleInput {
        kind: Some(PromptKind::Chat),
        format: Some(format),
        messages: Some(messages),
        ..BundleInput::default()
    };
    let (bundle, content) = Bundle::build(&input, "", &Bundle::default()).unwrap();
    Version { number: 1, content, bundle }
}

fn resolved(version: &Version) -> Resolved {
    let snippets =
        [("snippets/tone", "Write in a {{tone}} tone."), ("snippets/sign-off@2", "Thanks, {{agent}}.")];
    let mut contract = version.bundle.contract.clone();
    let mut includes = BTreeMap::new();
    for (reference, content) in snippets {
        for spec in Bundle::basic_text(content).contract {
            if !contract.iter().any(|s| s.name == spec.name) {
                contract.push(spec);
            }
        }
        includes.insert(
            reference.to_owned(),
            Included { format: TemplateFormat::Basic, content: content.into() },
        );
    }
    Resolved { includes, contract, followed: vec!["snippets/tone".into()] }
}

fn values() -> BTreeMap<String, Value> {
    [
        ("customer", json!("Ada Lovelace")),
        ("topic", json!("an order that is late")),
        ("tone", json!("warm")),
        ("vip", json!(true)),
        ("agent", json!("Sam")),
        ("items", json!([{"name": "Tea", "qty": 2}, {"name": "Cake", "qty": 1}, {"name": "Jam", "qty": 3}])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn render(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let values = values();
    let mut group = c.benchmark_group("render");
    for (id, format) in
        [("chat_50_logic_with_includes", TemplateFormat::Logic), ("chat_50_basic", TemplateFormat::Basic)]
    {
        let version = version(format);
        let resolved = resolved(&version);
        let rendered =
            runtime.block_on(bundles::render_resolved(&version, &resolved, &values, false)).unwrap();
        assert_eq!(rendered.messages.len(), MESSAGES);
        group.bench_function(id, |b| {
            b.iter(|| {
                runtime.block_on(bundles::render_resolved(&version, &resolved, &values, false)).unwrap()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
