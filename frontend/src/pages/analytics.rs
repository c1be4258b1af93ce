//! Usage figures with small inline-SVG charts: prompts per day, by category, sign-ins, roles,
//! and AI runs (per day and per model, with tokens and estimated cost). System administrators
//! can switch to the whole system, with a row per tenant.

use std::collections::BTreeMap;

use chrono::Days;
use domain::wire::{Analytics, Count, RunAnalytics, TenantUsage};
use leptos::prelude::*;

use crate::api::{self, ApiFailure};
use crate::auth::use_auth;
use crate::ui::{ErrorAlert, Loading, set_title, today};

#[component]
pub fn AnalyticsPage() -> impl IntoView {
    set_title("Analytics");
    let auth = use_auth();
    if !auth.is_admin() {
        return view! {
            <h1>"Analytics"</h1>
            <ErrorAlert failure=ApiFailure::local("Only administrators see analytics.")/>
        }
        .into_any();
    }
    let system = RwSignal::new(false);
    let data = LocalResource::new(move || {
        let system = system.get();
        async move {
            if system {
                api::system_analytics().await.map(|s| (s.totals, Some(s.tenants)))
            } else {
                api::analytics().await.map(|a| (a, None))
            }
        }
    });
    view! {
        <div class="page-header">
            <h1>"Analytics"</h1>
            <Show when=move || auth.is_system_admin()>
                <div class="segmented" role="group" aria-label="Scope">
                    <button type="button" aria-pressed=move || (!system.get()).to_string() on:click=move |_| system.set(false)>
                        "This organisation"
                    </button>
                    <button type="button" aria-pressed=move || system.get().to_string() on:click=move |_| system.set(true)>
                        "All organisations"
                    </button>
                </div>
            </Show>
        </div>
        <Transition fallback=|| view! { <Loading label="Loading figures…"/> }>
            {move || {
                data.get()
                    .map(|result| match result {
                        Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                        Ok((figures, tenants)) => view! { <Figures figures tenants/> }.into_any(),
                    })
            }}
        </Transition>
        <Show when=move || !system.get()>
            <RunFigures/>
        </Show>
    }
    .into_any()
}

/// AI runs of the organisation over the last 30 days.
#[component]
fn RunFigures() -> impl IntoView {
    let to = today();
    let from = to.checked_sub_days(Days::new(29)).unwrap_or(to);
    let runs = LocalResource::new(move || api::run_analytics(from, to));
    view! {
        <section class="panel" aria-labelledby="ai-runs-title">
            <h2 id="ai-runs-title">"AI runs (last 30 days, UTC)"</h2>
            <Transition fallback=|| view! { <Loading label="Loading AI usage…"/> }>
                {move || {
                    runs.get()
                        .map(|result| match result {
                            Err(failure) => view! { <ErrorAlert failure/> }.into_any(),
                            Ok(figures) => view! { <RunTables figures/> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn RunTables(figures: RunAnalytics) -> impl IntoView {
    let total: u64 = figures.days.iter().map(|d| d.runs).sum();
    let failed: u64 = figures.days.iter().map(|d| d.failed).sum();
    let input: u64 = figures.days.iter().map(|d| d.input_tokens).sum();
    let output: u64 = figures.days.iter().map(|d| d.output_tokens).sum();
    let per_day = figures.days.iter().map(|d| Count { key: d.day.to_string(), count: d.runs }).collect();
    view! {
        <div class="stats">
            <Stat label="Runs" value=total/>
            <Stat label="Failed runs" value=failed/>
            <Stat label="Input tokens" value=input/>
            <Stat label="Output tokens" value=output/>
        </div>
        <h3>"Runs per day"</h3>
        <DailyChart counts=per_day what="runs" column="Runs"/>
        <h3 id="ai-models-title">"By model"</h3>
        {if figures.models.is_empty() {
            view! { <p class="empty-inline">"No runs yet."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                    <table aria-labelledby="ai-models-title" id="ai-models">
                        <thead>
                            <tr>
                                <th scope="col">"Service"</th>
                                <th scope="col">"Model"</th>
                                <th scope="col" class="num">"Runs"</th>
                                <th scope="col" class="num">"Input tokens"</th>
                                <th scope="col" class="num">"Output tokens"</th>
                                <th scope="col" class="num">"Estimated cost"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {figures.models.into_iter().map(|m| view! {
                                <tr>
                                    <td>{m.provider.label()}</td>
                                    <td><code>{m.model}</code></td>
                                    <td class="num">{m.runs}</td>
                                    <td class="num">{m.input_tokens}</td>
                                    <td class="num">{m.output_tokens}</td>
                                    <td class="num">{m.estimated_cost.map(|c| format!("{c:.4}")).unwrap_or_else(|| "—".to_owned())}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }
                .into_any()
        }}
    }
}

#[component]
fn Figures(figures: Analytics, tenants: Option<Vec<TenantUsage>>) -> impl IntoView {
    let logins = vec![
        Count { key: "Last 7 days".to_owned(), count: figures.logins_last_7_days },
        Count { key: "Last 30 days".to_owned(), count: figures.logins_last_30_days },
    ];
    view! {
        <div class="stats">
            <Stat label="Prompts" value=figures.prompts_total/>
            <Stat label="Users" value=figures.users_total/>
            <Stat label="Active users" value=figures.users_active/>
            <Stat label="Sign-ins, 7 days" value=figures.logins_last_7_days/>
            <Stat label="Sign-ins, 30 days" value=figures.logins_last_30_days/>
        </div>
        <div class="charts">
            <section class="panel chart-panel" aria-labelledby="per-day-title">
                <h2 id="per-day-title">"Prompts created per day (last 30 days, UTC)"</h2>
                <DailyChart counts=figures.prompts_per_day/>
            </section>
            <section class="panel chart-panel" aria-labelledby="by-category-title">
                <h2 id="by-category-title">"Prompts by category"</h2>
                <Bars counts=figures.prompts_by_category empty="No prompts yet."/>
            </section>
            <section class="panel chart-panel" aria-labelledby="logins-title">
                <h2 id="logins-title">"Sign-ins"</h2>
                <Bars counts=logins empty="No sign-ins."/>
            </section>
            <section class="panel chart-panel" aria-labelledby="roles-title">
                <h2 id="roles-title">"Users by role"</h2>
                <Bars counts=figures.users_by_role empty="No users."/>
            </section>
        </div>
        <section class="panel" aria-labelledby="contributors-title">
            <h2 id="contributors-title">"Top contributors"</h2>
            {if figures.top_contributors.is_empty() {
                view! { <p class="empty-inline">"Nobody has written a prompt yet."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr><th scope="col">"User"</th><th scope="col" class="num">"Prompts"</th></tr></thead>
                        <tbody>
                            {figures.top_contributors.into_iter().map(|c| view! {
                                <tr><td>{c.email}</td><td class="num">{c.prompts}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }
                    .into_any()
            }}
        </section>
        {tenants.map(|tenants| view! {
            <section class="panel" aria-labelledby="tenant-usage-title">
                <h2 id="tenant-usage-title">"Organisations"</h2>
                <div class="table-wrap">
                    <table>
                        <thead>
                            <tr>
                                <th scope="col">"Subdomain"</th>
                                <th scope="col" class="num">"Users"</th>
                                <th scope="col" class="num">"Active"</th>
                                <th scope="col" class="num">"Prompts"</th>
                                <th scope="col" class="num">"Sign-ins, 30 days"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {tenants.into_iter().map(|t| view! {
                                <tr>
                                    <td>{t.subdomain}</td>
                                    <td class="num">{t.users_total}</td>
                                    <td class="num">{t.users_active}</td>
                                    <td class="num">{t.prompts_total}</td>
                                    <td class="num">{t.logins_last_30_days}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            </section>
        })}
    }
}

#[component]
fn Stat(label: &'static str, value: u64) -> impl IntoView {
    view! {
        <div class="stat">
            <span class="stat-value">{value}</span>
            <span class="stat-label">{label}</span>
        </div>
    }
}

/// A column per day over the last 30 days (days without any count 0).
#[component]
fn DailyChart(
    counts: Vec<Count>,
    /// What is counted, in the summary ("12 prompts created from …").
    #[prop(default = "prompts created")]
    what: &'static str,
    /// The numbers column's heading.
    #[prop(default = "Prompts")]
    column: &'static str,
) -> impl IntoView {
    const DAYS: u64 = 30;
    const WIDTH: f64 = 600.0;
    const HEIGHT: f64 = 160.0;
    let by_day: BTreeMap<String, u64> = counts.into_iter().map(|c| (c.key, c.count)).collect();
    let last = today();
    let days: Vec<(String, u64)> = (0..DAYS)
        .rev()
        .map(|back| {
            let day = last.checked_sub_days(Days::new(back)).unwrap_or(last).to_string();
            let count = by_day.get(&day).copied().unwrap_or(0);
            (day, count)
        })
        .collect();
    let max = days.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1);
    let total: u64 = days.iter().map(|(_, c)| *c).sum();
    let slot = WIDTH / DAYS as f64;
    let first_day = days.first().map(|(d, _)| d.clone()).unwrap_or_default();
    let last_day = days.last().map(|(d, _)| d.clone()).unwrap_or_default();
    let summary = format!("{total} {what} from {first_day} to {last_day}; at most {max} on one day.");
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, (day, count))| {
            let h = (*count as f64 / max as f64) * (HEIGHT - 20.0);
            let x = i as f64 * slot + 2.0;
            let tip = format!("{day}: {count}");
            view! {
                <rect class="bar" x=x y={HEIGHT - h} width={slot - 4.0} height={h.max(0.5)}>
                    <title>{tip}</title>
                </rect>
            }
        })
        .collect_view();
    let rows = days
        .into_iter()
        .filter(|(_, c)| *c > 0)
        .map(|(d, c)| view! { <tr><td>{d}</td><td class="num">{c}</td></tr> })
        .collect_view();
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {WIDTH} {}", HEIGHT + 2.0) role="img" aria-label=summary.clone() preserveAspectRatio="none" class="daily-chart">
                <line x1="0" y1={HEIGHT + 1.0} x2=WIDTH y2={HEIGHT + 1.0} class="axis"/>
                {bars}
            </svg>
            <figcaption class="chart-axis">
                <span>{first_day}</span>
                <span>{format!("max {max}")}</span>
                <span>{last_day}</span>
            </figcaption>
            <details>
                <summary>"Show the numbers"</summary>
                <p>{summary}</p>
                <table>
                    <thead><tr><th scope="col">"Day"</th><th scope="col" class="num">{column}</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </details>
        </figure>
    }
}

/// Horizontal bars, one row per key, longest first as the API orders them.
#[component]
fn Bars(counts: Vec<Count>, empty: &'static str) -> impl IntoView {
    if counts.is_empty() {
        return view! { <p class="empty-inline">{empty}</p> }.into_any();
    }
    let max = counts.iter().map(|c| c.count).max().unwrap_or(0).max(1);
    view! {
        <ul class="bars">
            {counts
                .into_iter()
                .map(|c| {
                    let pct = c.count as f64 / max as f64 * 100.0;
                    view! {
                        <li>
                            <span class="bar-label">{c.key}</span>
                            <svg class="bar-track" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">
                                <rect class="bar" x="0" y="0" width={pct.max(0.5)} height="10"/>
                            </svg>
                            <span class="bar-value">{c.count}</span>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}
