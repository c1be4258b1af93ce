//! Small pieces every screen uses: alerts, loading and empty states, field errors, dates,
//! downloads and the clipboard.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::api::ApiFailure;

/// A failure, announced to assistive technology.
#[component]
pub fn ErrorAlert(#[prop(into)] failure: ApiFailure) -> impl IntoView {
    view! {
        <div class="alert alert-error" role="alert">
            <p>{failure.to_string()}</p>
        </div>
    }
}

/// A failure with the problem's title and detail (and per-field messages), for answers where
/// the title says something the detail does not (an AI service that failed, and how).
#[component]
pub fn ProblemAlert(
    #[prop(into)] failure: ApiFailure,
    #[prop(optional)] testid: &'static str,
) -> impl IntoView {
    let title = failure.title.clone().filter(|t| *t != failure.message);
    let errors = failure.errors.clone();
    view! {
        <div class="alert alert-error" role="alert" data-testid=(!testid.is_empty()).then_some(testid)>
            {title.map(|t| view! { <p><strong>{t}</strong></p> })}
            <p>{failure.to_string()}</p>
            {(!errors.is_empty())
                .then(|| {
                    view! {
                        <ul>
                            {errors.into_iter().map(|e| view! { <li><code>{e.field}</code> ": " {e.message}</li> }).collect_view()}
                        </ul>
                    }
                })}
        </div>
    }
}

/// Shows the failure held by `failure`, if any (its field errors appear next to their fields).
#[component]
pub fn FailureAlert(failure: RwSignal<Option<ApiFailure>>) -> impl IntoView {
    move || failure.get().map(|failure| view! { <ErrorAlert failure/> })
}

/// A loading message, announced politely.
#[component]
pub fn Loading(#[prop(optional, into)] label: Option<String>) -> impl IntoView {
    view! {
        <p class="loading" role="status">
            <span class="spinner" aria-hidden="true"></span>
            {label.unwrap_or_else(|| "Loading…".to_owned())}
        </p>
    }
}

/// The error message element for a field, always present so `aria-describedby` can point at
/// it; empty while the field is fine.
#[component]
pub fn FieldMessage(
    failure: RwSignal<Option<ApiFailure>>,
    field: &'static str,
    #[prop(into)] id: String,
) -> impl IntoView {
    view! {
        <p class="field-error" id=id>
            {move || failure.with(|f| f.as_ref().and_then(|f| f.field(field)))}
        </p>
    }
}

/// [`FieldMessage`] for a field whose name can change (a row that moves in a list is
/// `messages[2]` now, `messages[1]` after moving up). `exact`: only errors for the field itself,
/// not for its parts (`messages`, not `messages[2].content`, which show by their rows).
#[component]
pub fn FieldMessageAt(
    failure: RwSignal<Option<ApiFailure>>,
    #[prop(into)] field: Signal<String>,
    #[prop(into)] id: String,
    #[prop(optional)] exact: bool,
) -> impl IntoView {
    view! {
        <p class="field-error" id=id>
            {move || {
                field.with(|name| {
                    failure.with(|f| f.as_ref().and_then(|f| if exact { f.field_only(name) } else { f.field(name) }))
                })
            }}
        </p>
    }
}

/// `aria-invalid` for a field named by a signal (see [`FieldMessageAt`]).
pub fn invalid_at(
    failure: RwSignal<Option<ApiFailure>>,
    field: Signal<String>,
) -> impl Fn() -> Option<&'static str> + Copy {
    move || field.with(|name| failure.with(|f| f.as_ref().and_then(|f| f.field(name)).map(|_| "true")))
}

/// `aria-invalid` for a field: `"true"` while the last failure names it.
pub fn invalid(
    failure: RwSignal<Option<ApiFailure>>,
    field: &'static str,
) -> impl Fn() -> Option<&'static str> {
    move || failure.with(|f| f.as_ref().and_then(|f| f.field(field)).map(|_| "true"))
}

/// Keeps a number input showing `value` without writing to it while it already does. A number
/// input reports `""` while its text is half typed (`12.`); writing that back (as `prop:value`
/// would) wipes what the person is typing.
pub fn sync_number(node: NodeRef<leptos::html::Input>, value: RwSignal<String>) {
    Effect::new(move || {
        let wanted = value.get();
        if let Some(input) = node.get()
            && input.value() != wanted
        {
            input.set_value(&wanted);
        }
    });
}

/// Sets the browser tab's title.
pub fn set_title(page: &str) {
    document().set_title(&format!("{page} · AI Prompt Manager"));
}

/// A date and time in the person's own locale and time zone, inside `<time>`.
#[component]
pub fn Time(at: DateTime<Utc>) -> impl IntoView {
    let text = local_time(at);
    view! { <time datetime=at.to_rfc3339()>{text}</time> }
}

pub fn local_time(at: DateTime<Utc>) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at.timestamp_millis() as f64));
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"dateStyle".into(), &"medium".into());
    let _ = js_sys::Reflect::set(&options, &"timeStyle".into(), &"short".into());
    let locale = window().navigator().language().unwrap_or_else(|| "en".to_owned());
    String::from(date.to_locale_string(&locale, &options))
}

/// Offers `text` as a file download named `filename`.
pub fn download(filename: &str, mime: &str, text: &str) -> Result<(), ApiFailure> {
    let fail = |_| ApiFailure::local("The browser refused to save the file.");
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(fail)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(fail)?;
    let anchor: web_sys::HtmlAnchorElement =
        document().create_element("a").map_err(fail)?.dyn_into().map_err(|_| ApiFailure::local("No link"))?;
    anchor.set_href(&url);
    anchor.set_download(filename);
    anchor.set_hidden(true);
    if let Some(body) = document().body() {
        let _ = body.append_child(&anchor);
        anchor.click();
        let _ = body.remove_child(&anchor);
    }
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// Copies `text` to the clipboard.
pub async fn copy_to_clipboard(text: &str) -> Result<(), ApiFailure> {
    let promise = window().navigator().clipboard().write_text(text);
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map(drop)
        .map_err(|_| ApiFailure::local("The browser refused to copy; select the text and copy it yourself."))
}

/// Today's date (UTC) as `YYYY-MM-DD`, from the browser's clock.
pub fn today() -> chrono::NaiveDate {
    let ms = js_sys::Date::now() as i64;
    DateTime::<Utc>::from_timestamp_millis(ms).map(|d| d.date_naive()).unwrap_or_default()
}

/// Splits a comma-separated list, trimming and dropping blanks.
pub fn split_list(raw: &str) -> Vec<String> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// `text` trimmed, or `None` when nothing is left (an optional field left blank).
pub fn non_empty(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// An in-app path to return to after signing in: only paths of this app's origin (see
/// `domain::redirect`), else the prompt list.
pub fn safe_next(next: Option<String>) -> String {
    domain::redirect::same_origin_path(next.as_deref()).unwrap_or_else(|| "/prompts".to_owned())
}

/// Makes the rows of a list a form edits (messages, tools, inputs): each row gets a key of its
/// own, and its signals belong to the component that made the form, not to the event handler
/// that added the row (which would dispose of them when it ends).
#[derive(Clone, Copy)]
pub struct Rows {
    owner: StoredValue<Option<Owner>>,
    next_key: StoredValue<u32>,
}

impl Rows {
    /// Owned by the current component.
    pub fn new() -> Self {
        Self { owner: StoredValue::new(Owner::current()), next_key: StoredValue::new(1) }
    }

    /// Runs `make` as the form's component.
    pub fn owned<T>(&self, make: impl FnOnce() -> T) -> T {
        self.owner.with_value(|owner| match owner {
            Some(owner) => owner.with(make),
            None => make(),
        })
    }

    /// A key no other row of the form has.
    pub fn key(&self) -> u32 {
        let key = self.next_key.get_value();
        self.next_key.set_value(key + 1);
        key
    }
}
