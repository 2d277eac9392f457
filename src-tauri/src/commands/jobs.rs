//! The job builder, the timeline and the job detail.

use lockstep_core::Core;
use lockstep_core::view::{
    BuilderDefaults, ExportFormat, ExportedFile, JobDetailView, RenderForm, SubmitOutcome,
};
use lockstep_jobs::archive::{DeviceResultsPage, DeviceResultsQuery, JobFilter};
use lockstep_jobs::draft::{FieldError, JobDraft};
use lockstep_jobs::preview::JobPreview;
use lockstep_jobs::summary::JobSummary;
use tauri::State;

use crate::CommandError;

/// A fresh job form and the lock's device id for the "this lock" preset.
#[tauri::command]
pub fn job_defaults(core: State<'_, Core>) -> Result<BuilderDefaults, CommandError> {
    Ok(core.job_defaults()?)
}

/// Every problem of a draft (empty: it can be submitted).
#[tauri::command]
pub fn validate_job(core: State<'_, Core>, draft: JobDraft) -> Vec<FieldError> {
    core.validate_job(&draft)
}

/// What a query condition selects on the active hub.
#[tauri::command]
pub async fn preview_condition(
    core: State<'_, Core>,
    condition: String,
) -> Result<JobPreview, CommandError> {
    Ok(core.preview_condition(&condition).await?)
}

/// Validates and submits a job (nothing is sent when invalid).
#[tauri::command]
pub async fn submit_job(
    core: State<'_, Core>,
    draft: JobDraft,
) -> Result<SubmitOutcome, CommandError> {
    Ok(core.submit_job(&draft).await?)
}

/// A draft as an az CLI command or a REST request, without secrets.
#[tauri::command]
pub fn render_job(
    core: State<'_, Core>,
    draft: JobDraft,
    form: RenderForm,
) -> Result<String, CommandError> {
    Ok(core.render_job(&draft, form)?)
}

/// The archived jobs of the active profile.
#[tauri::command]
pub async fn list_jobs(
    core: State<'_, Core>,
    filter: JobFilter,
) -> Result<Vec<JobSummary>, CommandError> {
    Ok(core.list_jobs(filter).await?)
}

/// Imports the hub's jobs and watches the unfinished ones; how many the hub listed.
#[tauri::command]
pub async fn refresh_jobs(core: State<'_, Core>) -> Result<u32, CommandError> {
    Ok(core.refresh_jobs().await?)
}

/// An archived job with its device counts per status.
#[tauri::command]
pub async fn job_detail(
    core: State<'_, Core>,
    job_id: String,
) -> Result<JobDetailView, CommandError> {
    Ok(core.job_detail(&job_id).await?)
}

/// One page of a job's device results.
#[tauri::command]
pub async fn device_results(
    core: State<'_, Core>,
    job_id: String,
    query: DeviceResultsQuery,
) -> Result<DeviceResultsPage, CommandError> {
    Ok(core.device_results(&job_id, query).await?)
}

/// Cancels a job.
#[tauri::command]
pub async fn cancel_job(core: State<'_, Core>, job_id: String) -> Result<JobSummary, CommandError> {
    Ok(core.cancel_job(&job_id).await?)
}

/// An archived job as a new form (new job id, starting now).
#[tauri::command]
pub async fn clone_job(core: State<'_, Core>, job_id: String) -> Result<JobDraft, CommandError> {
    Ok(core.clone_job(&job_id).await?)
}

/// Writes a job's device results as CSV or JSON to the Downloads dir.
#[tauri::command]
pub async fn export_results(
    core: State<'_, Core>,
    job_id: String,
    format: ExportFormat,
) -> Result<ExportedFile, CommandError> {
    Ok(core.export_results(&job_id, format).await?)
}

/// Pauses the job polls while the window is hidden, resumes them when shown.
#[tauri::command]
pub fn set_window_visible(core: State<'_, Core>, visible: bool) {
    core.set_window_visible(visible);
}
