//! Attachments of a contact's own requests, as the portal's request pages have them: the list,
//! a reply that carries a file, and each file's download.
//!
//! A file is checked by [`crate::domain::requests::check_upload`], the pages' own check: at
//! most [`crate::domain::requests::ATTACHMENT_MAX_BYTES`], a PNG, JPEG, GIF, PDF or plain text
//! file recognised by its bytes and agreeing with its name, never a program. A request is
//! looked up with the contact's organization and the contact, so any other request, another
//! organization's above all, is not found. Downloads are always served as
//! `application/octet-stream` attachments, never shown inline.

use poem_openapi::{
    ApiResponse, Multipart, Object, OpenApi,
    param::Path,
    payload::{Attachment as Download, AttachmentType, Json},
    types::multipart::Upload as UploadField,
};

use super::{
    ApiResult, ApiTags, ContactAuth,
    content::{check_writable, number},
};
use crate::{
    App, AppError,
    domain::requests::{self, Attachment, AttachmentId, Upload},
    storage::requests as request_store,
};

/// The contact's attachment endpoints.
pub struct AttachmentApi;

/// A file attached to a request, without its bytes.
#[derive(Object, Debug)]
#[oai(skip_serializing_if_is_none)]
pub struct AttachmentInfo {
    pub id: String,
    /// The reply it came with; none for a file of the request itself.
    pub reply_id: Option<String>,
    pub file_name: String,
    /// What its bytes were recognised as.
    pub content_type: String,
    pub size_bytes: i32,
}

impl AttachmentInfo {
    pub fn of(attachment: &Attachment) -> Self {
        Self {
            id: attachment.id.to_string(),
            reply_id: attachment.reply_id.map(|id| id.to_string()),
            file_name: attachment.file_name.clone(),
            content_type: attachment.content_type.clone(),
            size_bytes: attachment.size_bytes,
        }
    }
}

/// A reply of the contact with one file.
#[derive(Multipart, Debug)]
pub struct ReplyWithFile {
    /// The reply's text.
    #[oai(validator(min_length = 1, max_length = 20000))]
    pub body: String,
    /// A PNG, JPEG, GIF, PDF or plain text file of at most 512 KiB.
    pub attachment: UploadField,
}

#[derive(ApiResponse)]
pub enum AttachmentsResponse {
    /// The request's files, oldest first.
    #[oai(status = 200)]
    Ok(Json<Vec<AttachmentInfo>>),
    /// The reply and its file are added; the request's files, oldest first.
    #[oai(status = 201)]
    Created(Json<Vec<AttachmentInfo>>),
}

/// The files of one of the contact's requests.
async fn files_of(app: &App, auth: &ContactAuth, number: i64) -> Result<Vec<Attachment>, AppError> {
    let (org_id, contact_id) = (auth.0.org.id, auth.0.contact.id);
    app.db
        .run(move |conn| {
            let request =
                request_store::find_request_of_contact(conn, &org_id, &contact_id, number)?
                    .ok_or(AppError::NotFound)?;
            request_store::attachments(conn, &org_id, &request.id)
        })
        .await
}

#[OpenApi(tag = "ApiTags::Content")]
impl AttachmentApi {
    /// The files attached to one of the contact's requests and its replies.
    #[oai(
        path = "/requests/:number/attachments",
        method = "get",
        operation_id = "list_request_attachments"
    )]
    async fn list(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: ContactAuth,
        number: Path<String>,
    ) -> ApiResult<AttachmentsResponse> {
        let number = self::number(&number)?;
        let files = files_of(&app, &auth, number).await?;
        Ok(AttachmentsResponse::Ok(Json(
            files.iter().map(AttachmentInfo::of).collect(),
        )))
    }

    /// Adds the contact's reply with a file to one of their requests (`multipart/form-data`:
    /// `body` and `attachment`), checked as the portal's pages check files.
    #[oai(
        path = "/requests/:number/attachments",
        method = "post",
        operation_id = "reply_with_attachment"
    )]
    async fn upload(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: ContactAuth,
        number: Path<String>,
        form: ReplyWithFile,
    ) -> ApiResult<AttachmentsResponse> {
        let number = self::number(&number)?;
        check_writable(&auth.0)?;
        let file_name = form.attachment.file_name().unwrap_or_default().to_owned();
        let data = form.attachment.into_vec().await.map_err(|_| {
            AppError::invalid(
                "attachment",
                "The file could not be read. Please try again.",
            )
        })?;
        let checked = requests::check_upload(Upload { file_name, data })?;
        requests::reply_as_contact(&app, &auth.0.contact, number, form.body, Some(checked)).await?;
        let files = files_of(&app, &auth, number).await?;
        Ok(AttachmentsResponse::Created(Json(
            files.iter().map(AttachmentInfo::of).collect(),
        )))
    }

    /// One file of one of the contact's requests, as a download.
    #[oai(
        path = "/requests/:number/attachments/:id",
        method = "get",
        operation_id = "download_request_attachment"
    )]
    async fn download(
        &self,
        app: poem::web::Data<&std::sync::Arc<App>>,
        auth: ContactAuth,
        number: Path<String>,
        id: Path<String>,
    ) -> ApiResult<Download<Vec<u8>>> {
        let number = self::number(&number)?;
        let id = AttachmentId::parse(id.trim()).ok_or(AppError::NotFound)?;
        let (org_id, contact_id) = (auth.0.org.id, auth.0.contact.id);
        let (attachment, data) = app
            .db
            .run(move |conn| {
                let request =
                    request_store::find_request_of_contact(conn, &org_id, &contact_id, number)?
                        .ok_or(AppError::NotFound)?;
                request_store::attachment_with_data(conn, &org_id, &request.id, &id)?
                    .ok_or(AppError::NotFound)
            })
            .await?;
        Ok(Download::new(data)
            .attachment_type(AttachmentType::Attachment)
            .filename(attachment.file_name))
    }
}
