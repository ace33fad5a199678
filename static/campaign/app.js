/* Protagonist H5 page: pick a photo, upload, follow progress live, get five posters and a film.
 *
 * The server is the source of truth: on every (re)connect the websocket sends a full snapshot, and the
 * same status is available over HTTP (polling fallback). The job id and token live in the URL fragment
 * (never sent to servers) and in localStorage, so a reload or a bookmark resumes the job.
 */
(function () {
  "use strict";

  var TEXT = {
    zh: {
      closed: "活动暂未开放，请稍后再来。",
      formTitle: "上传一张正脸照片",
      photoTips: "光线充足、正对镜头、只有你一个人、不戴墨镜和口罩。",
      choosePhoto: "选择照片",
      takeSelfie: "自拍一张",
      genderLegend: "选择影片中的角色",
      female: "女主角",
      male: "男主角",
      comingSoon: "即将上线",
      rolesPreparing: "影片正在准备中，几分钟后就能参加；本页会自动更新。",
      filmLegend: "选择影片",
      filmSeconds: "{n} 秒",
      filmPreparing: "准备中",
      failedTitle: "没能完成",
      goneTitle: "结果不可用",
      consent: "我单独同意主办方处理我上传的人脸照片（敏感个人信息）。目的：仅用于生成本次活动的海报和视频，这是生成所必需的；原图在分析后立即删除，成品保留 {days} 天后自动删除；我可以随时点击“删除我的数据”立即删除。",
      consentShort: "我单独同意处理我的人脸照片，仅用于本活动的海报和视频。原图分析后即删除，成品 {days} 天后删除。",
      consentMore: "完整说明",
      nowCasting: "正在招募主角",
      samplePoster: "海报示例：上传后，主角换成你",
      samplePosterAlt: "本片的海报示例",
      consentVersion: "同意书版本 {version}",
      ageLegend: "年龄确认",
      ageSelf: "我已年满 {age} 周岁",
      ageGuardian: "我未满 {age} 周岁，已取得监护人同意",
      previewAlt: "你选择的照片",
      previewNoFace: "照片已选好。上传后我们会检查照片里是否有一张清晰的正脸。",
      previewFace: "找到了你的脸（方框所示）。",
      previewUnreadable: "这张照片无法在此预览（例如 HEIC 格式），上传后服务器会转换并检查。",
      play: "播放",
      downloadPoster: "下载海报",
      submit: "生成我的海报和电影",
      uploading: "正在上传…",
      progressTitle: "正在制作",
      mayLeave: "你可以先离开，稍后回到本页面查看结果（请保存本页链接）。",
      tryAnother: "换一张照片重试",
      postersTitle: "你的海报",
      tip_glasses: "小提示：换一张不戴眼镜的照片，海报和电影里会更像你。",
      tip_side_lit: "小提示：换一张脸部光线均匀的照片（面向窗户或灯光），效果会更像你。",
      tip_head_turned: "小提示：换一张正对镜头的照片，效果会更像你。",
      tip_face_small: "小提示：换一张离镜头近一些、脸更大的照片，效果会更像你。",
      tip_soft_focus: "小提示：换一张更清晰的照片，效果会更像你。",
      tip_hand_near_face: "小提示：换一张手不挨着脸的照片，效果会更像你。",
      tip_expression_moderate: "小提示：换一张表情自然、闭着嘴的照片，效果会更像你。",
      wechatHint: "长按海报可保存。保存视频请点右上角 ··· 选择“在浏览器打开”。",
      videoTitle: "你的电影",
      videoPending: "电影正在制作中，完成后会出现在这里。",
      downloadVideo: "下载视频",
      share: "分享",
      aiLabel: "海报和视频由 AI 生成，已添加“AI生成”标识。",
      deleteData: "删除我的数据",
      deleted: "你的照片和结果已删除。",
      confirmDelete: "确定删除你的照片、海报和视频吗？此操作不可恢复。",
      poster: "海报 {n}",
      posterAlt: "以你的脸生成的电影海报 {n}",
      st_queued: "排队中",
      st_analyzing: "正在分析你的照片",
      st_posters: "正在制作海报",
      st_video: "正在制作电影",
      st_done: "完成！",
      st_failed: "没能完成",
      queue: "前面还有 {n} 人，预计 {eta} 后开始",
      eta_s: "{n} 秒",
      eta_m: "{n} 分钟",
      busy: "现在人太多了，{n} 秒后自动重试…",
      offline: "网络连接中断，正在重新连接…",
      err_generic: "出了点问题，请稍后再试。",
      err_network: "网络不太好，请检查网络后重试。",
      err_consent_required: "请先勾选同意处理人脸照片。",
      err_consent_outdated: "同意书内容已更新，请刷新页面后重新阅读并勾选。",
      err_age_confirmation_required: "请先确认你的年龄（或监护人同意）。",
      err_age_restricted: "本活动仅限年满 {age} 周岁的用户参加。",
      err_photo_required: "请先选择一张照片。",
      err_too_many_files: "请只上传一张照片。",
      err_rate_limited: "操作太频繁了，请稍后再试。",
      err_not_found: "找不到这个结果，链接可能不完整。",
      err_deleted: "这个结果已被删除。",
      err_variant_unavailable: "这个角色刚刚暂停了，请选择其他角色或稍后再试。",
      err_campaign_closed: "活动暂未开放，请稍后再来。",
      err_photo_too_large: "照片太大了，请换一张照片。",
      err_not_an_image: "这个文件不是我们能识别的照片，请上传 JPG、PNG 或 HEIC 照片。",
      err_corrupt_image: "照片文件已损坏，请重新拍摄或选择。",
      err_animated_image: "不支持动图，请选择一张静态照片。",
      err_image_too_small: "照片太小了，请使用更清晰的照片。",
      err_no_face: "没有找到人脸。请上传一张能看清正脸的照片。",
      err_multiple_faces: "照片里有不止一个人。请上传只有你一个人的照片。",
      err_face_too_small: "脸在照片里太小了。请靠近一些再拍。",
      err_face_cut_off: "脸没有完整出现在照片里。请让整张脸都在画面中。",
      err_not_facing_camera: "请正对镜头拍摄，不要侧脸、低头或仰头。",
      err_too_dark: "照片太暗了。请到光线充足的地方再拍一张。",
      err_overexposed: "照片太亮了。请避开强光再拍一张。",
      err_too_blurry: "照片太模糊了。请保持手机稳定再拍一张。",
      err_screen_photo: "这像是翻拍的屏幕照片。请直接上传原始照片，或重新拍一张自己的照片。",
      err_not_a_photo: "这看起来像画作或卡通图片，不是照片。请上传一张你本人的照片。",
      err_face_covered: "脸被遮挡了。请摘下口罩、墨镜或移开手。",
      err_expression_strong: "表情太夸张了。请用自然的表情再拍一张。",
      err_internal_error: "我们这边出了点问题，请稍后再试。"
    },
    en: {
      closed: "The campaign is not open right now. Please come back later.",
      formTitle: "Upload a frontal face photo",
      photoTips: "Good light, facing the camera, only you in the picture, no sunglasses or mask.",
      choosePhoto: "Choose photo",
      takeSelfie: "Take a selfie",
      genderLegend: "Choose your role in the film",
      female: "Female lead",
      male: "Male lead",
      comingSoon: "coming soon",
      rolesPreparing: "The film is still being prepared; you can take part in a few minutes. This page updates by itself.",
      filmLegend: "Choose a film",
      filmSeconds: "{n} s",
      filmPreparing: "being prepared",
      failedTitle: "We could not make it",
      goneTitle: "Result not available",
      consent: "I separately agree that the organiser processes my face photo (sensitive personal information). Purpose: only to make this campaign's posters and film, which needs it. The original is deleted right after analysis; results are deleted automatically after {days} days, and I can delete them at any time with \u201cDelete my data\u201d.",
      consentShort: "I separately agree that my face photo is processed, only for this campaign's posters and film. The original is deleted after analysis, the results after {days} days.",
      consentMore: "Full text",
      nowCasting: "Now casting the lead",
      samplePoster: "A sample poster: upload your photo and the lead is you",
      samplePosterAlt: "A sample poster of this film",
      consentVersion: "Consent text version {version}",
      ageLegend: "Age confirmation",
      ageSelf: "I am at least {age} years old",
      ageGuardian: "I am under {age} and my guardian agreed",
      previewAlt: "The photo you chose",
      previewNoFace: "Photo chosen. After the upload we check that it shows one clear frontal face.",
      previewFace: "We found your face (outlined).",
      previewUnreadable: "This photo cannot be previewed here (e.g. HEIC); the server converts and checks it after the upload.",
      play: "Play",
      downloadPoster: "Download poster",
      submit: "Make my posters and film",
      uploading: "Uploading…",
      progressTitle: "In the making",
      mayLeave: "You may leave and come back to this page later (keep this link).",
      tryAnother: "Try another photo",
      postersTitle: "Your posters",
      tip_glasses: "Tip: a photo without glasses makes the posters and film look more like you.",
      tip_side_lit: "Tip: a photo with even light on your face (facing a window or a lamp) looks more like you.",
      tip_head_turned: "Tip: a photo looking straight into the camera looks more like you.",
      tip_face_small: "Tip: a photo taken closer, with your face larger, looks more like you.",
      tip_soft_focus: "Tip: a sharper photo looks more like you.",
      tip_hand_near_face: "Tip: a photo without a hand near your face looks more like you.",
      tip_expression_moderate: "Tip: a photo with a relaxed face and your mouth closed looks more like you.",
      wechatHint: "Long-press a poster to save it. To save the film, tap ··· at the top right and open in the browser.",
      videoTitle: "Your film",
      videoPending: "Your film is being made and will appear here.",
      downloadVideo: "Download film",
      share: "Share",
      aiLabel: "Posters and film are AI-generated and labelled as such.",
      deleteData: "Delete my data",
      deleted: "Your photo and results were deleted.",
      confirmDelete: "Delete your photo, posters and film? This cannot be undone.",
      poster: "Poster {n}",
      posterAlt: "Film poster {n} made with your face",
      st_queued: "Waiting in line",
      st_analyzing: "Analysing your photo",
      st_posters: "Making your posters",
      st_video: "Making your film",
      st_done: "Done!",
      st_failed: "Could not finish",
      queue: "{n} ahead of you, starting in about {eta}",
      eta_s: "{n} s",
      eta_m: "{n} min",
      busy: "Very busy right now; retrying in {n} s…",
      offline: "Connection lost, reconnecting…",
      err_generic: "Something went wrong. Please try again later.",
      err_network: "The network is unreliable. Please check it and try again.",
      err_consent_required: "Please tick the consent box first.",
      err_consent_outdated: "The consent text has changed. Please reload the page and read it again.",
      err_age_confirmation_required: "Please confirm your age (or your guardian's consent) first.",
      err_age_restricted: "This campaign is open to visitors aged {age} and over only.",
      err_photo_required: "Please choose a photo first.",
      err_too_many_files: "Please upload one photo only.",
      err_rate_limited: "Too many attempts. Please wait a moment and try again.",
      err_not_found: "This result cannot be found; the link may be incomplete.",
      err_deleted: "This result was deleted.",
      err_variant_unavailable: "This role was just paused. Please choose another one or try again later.",
      err_campaign_closed: "The campaign is not open right now.",
      err_photo_too_large: "The photo is too large. Please choose another one.",
      err_not_an_image: "This file is not a photo we can read. Please upload a JPEG, PNG or HEIC photo.",
      err_corrupt_image: "The photo file is damaged. Please take or choose it again.",
      err_animated_image: "Animated images cannot be used. Please choose a still photo.",
      err_image_too_small: "The photo is too small. Please use a sharper photo.",
      err_no_face: "We could not find a face. Please upload a photo where your face is clearly visible.",
      err_multiple_faces: "There is more than one person in the photo. Please upload a photo of just you.",
      err_face_too_small: "Your face is too small in the photo. Please come closer.",
      err_face_cut_off: "Your face is cut off. Please keep your whole face in the picture.",
      err_not_facing_camera: "Please face the camera directly.",
      err_too_dark: "The photo is too dark. Please take one in better light.",
      err_overexposed: "The photo is too bright. Please avoid strong light.",
      err_too_blurry: "The photo is blurry. Please hold the phone still.",
      err_screen_photo: "This looks like a photo of a screen. Please upload the original photo file, or take a new photo of yourself.",
      err_not_a_photo: "This looks like a painting or drawing, not a photo. Please upload a photo of your own face.",
      err_face_covered: "Your face is covered. Please remove mask, sunglasses or hands.",
      err_expression_strong: "The expression is too strong. Please use a natural expression.",
      err_internal_error: "Something went wrong on our side. Please try again in a few minutes."
    }
  };

  var app = document.getElementById("app");
  if (!document.getElementById("step-form")) return;
  var $ = function (id) { return document.getElementById(id); };
  // Chinese first (the campaign's audience); English on request, remembered on this device.
  var lang = localStorage.getItem("lang") === "en" ? "en" : "zh";
  var minAge = app.getAttribute("data-min-age");
  var retentionDays = app.getAttribute("data-retention-days");
  var consentVersion = app.getAttribute("data-consent-version") || "";
  var shareUrl = app.getAttribute("data-share-url") || (location.origin + location.pathname);
  var pingMs = (parseInt(app.getAttribute("data-ping-s"), 10) || 20) * 1000;
  var isWeChat = /MicroMessenger/i.test(navigator.userAgent);

  function t(key, vars) {
    var s = (TEXT[lang] && TEXT[lang][key]) || TEXT.zh[key] || key;
    Object.keys(vars || {}).forEach(function (k) { s = s.replace("{" + k + "}", vars[k]); });
    return s;
  }

  function applyLanguage() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    var vars = { days: retentionDays, age: minAge, version: consentVersion };
    document.querySelectorAll("[data-i18n]").forEach(function (el) {
      el.textContent = t(el.getAttribute("data-i18n"), vars);
    });
    document.querySelectorAll("[data-i18n-alt]").forEach(function (el) {
      el.alt = t(el.getAttribute("data-i18n-alt"), vars);
    });
    document.querySelectorAll("[data-i18n-aria]").forEach(function (el) {
      el.setAttribute("aria-label", t(el.getAttribute("data-i18n-aria"), vars));
    });
    document.querySelectorAll("#posters img[data-position]").forEach(function (img) {
      img.alt = t("posterAlt", { n: img.getAttribute("data-position") });
    });
    ["campaign-title", "campaign-description"].forEach(function (id) {
      var el = $(id);
      if (el) el.textContent = el.getAttribute(lang === "zh" ? "data-zh" : "data-en") || el.textContent;
    });
    document.querySelectorAll(".film-title, .feature-title").forEach(function (el) {
      el.textContent = el.getAttribute(lang === "zh" ? "data-zh" : "data-en") || el.textContent;
    });
    renderFilms();
    $("lang-toggle").textContent = lang === "zh" ? "EN" : "中文";
    if (lastStatus) render(lastStatus);
  }

  $("lang-toggle").addEventListener("click", function () {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("lang", lang);
    applyLanguage();
  });

  // ---------------------------------------------------------------- photo and form
  var photoBlob = null, photoName = "photo.jpg";

  function downscale(file) {
    // Decode straight to ~1280 px: never draw the full-size photo (iOS caps canvas area and memory).
    // createImageBitmap with resize options decodes at the small size; EXIF orientation is applied.
    var maxEdge = 1280;
    if (!window.createImageBitmap) return Promise.resolve({ blob: file, decoded: false });
    return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (probe) {
      var scale = Math.min(1, maxEdge / Math.max(probe.width, probe.height));
      var w = Math.max(1, Math.round(probe.width * scale)), h = Math.max(1, Math.round(probe.height * scale));
      if (scale === 1) return { bitmap: probe, w: w, h: h };
      if (probe.close) probe.close();
      return createImageBitmap(file, { imageOrientation: "from-image", resizeWidth: w, resizeHeight: h, resizeQuality: "high" })
        .then(function (bitmap) { return { bitmap: bitmap, w: w, h: h }; });
    }).then(function (r) {
      var canvas = document.createElement("canvas");
      canvas.width = r.w; canvas.height = r.h;
      canvas.getContext("2d").drawImage(r.bitmap, 0, 0, r.w, r.h);
      if (r.bitmap.close) r.bitmap.close();
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          canvas.width = 1; canvas.height = 1; // free the canvas memory at once
          resolve(blob ? { blob: blob, decoded: true } : { blob: file, decoded: false });
        }, "image/jpeg", 0.85);
      });
    }).catch(function () {
      // e.g. a HEIC file the browser cannot decode: upload the original, the server converts it
      return { blob: file, decoded: false };
    });
  }

  function outlineFace(img) {
    // Shape Detection API where the browser has it (Chrome on Android/macOS): outline the face found.
    // Advisory only: the server's analysis decides. Never a server round trip (intake stays cheap).
    var box = $("face-box"), note = $("preview-note");
    box.hidden = true;
    note.textContent = t("previewNoFace");
    if (!("FaceDetector" in window)) return;
    var detector;
    try { detector = new window.FaceDetector({ maxDetectedFaces: 3, fastMode: true }); } catch (err) { return; }
    detector.detect(img).then(function (faces) {
      if (!faces.length) return;
      if (faces.length > 1) { note.textContent = t("err_multiple_faces"); return; }
      var b = faces[0].boundingBox, W = img.naturalWidth, H = img.naturalHeight;
      box.style.left = (100 * b.x / W) + "%";
      box.style.top = (100 * b.y / H) + "%";
      box.style.width = (100 * b.width / W) + "%";
      box.style.height = (100 * b.height / H) + "%";
      box.hidden = false;
      note.textContent = t("previewFace");
    }).catch(function () { /* detector unavailable on this device */ });
  }

  function onPhoto(event) {
    var file = event.target.files && event.target.files[0];
    if (!file) return;
    hideError();
    downscale(file).then(function (result) {
      photoBlob = result.blob;
      photoName = result.decoded ? "photo.jpg" : (file.name || "photo");
      var preview = $("photo-preview");
      if (preview.src) URL.revokeObjectURL(preview.src);
      $("preview-box").hidden = false;
      $("face-box").hidden = true;
      preview.hidden = false;
      preview.onload = function () { outlineFace(preview); };
      preview.onerror = function () { preview.hidden = true; $("preview-note").textContent = t("previewUnreadable"); };
      preview.src = URL.createObjectURL(result.blob);
      updateSubmit();
    });
  }
  $("photo-input").addEventListener("change", onPhoto);
  $("selfie-input").addEventListener("change", onPhoto);

  // ---------------------------------------------------------------- films and roles on offer
  // A role (film x gender) is offered only once its film and five posters are ready; until then it says
  // "coming soon", and the page asks /api/campaign again now and then, so it opens without a reload.
  var films = [];
  try { films = JSON.parse($("films-data").textContent) || []; } catch (err) { films = []; }
  var filmsTimer = null;

  function filmSlug() {
    var checked = document.querySelector("input[name=film]:checked");
    return checked ? checked.value : (films[0] ? films[0].slug : "");
  }
  function currentFilm() {
    var slug = filmSlug();
    return films.filter(function (f) { return f.slug === slug; })[0] || null;
  }
  function renderFilms() {
    document.querySelectorAll(".film").forEach(function (label) {
      var film = films.filter(function (f) { return f.slug === label.getAttribute("data-film"); })[0];
      var length = label.querySelector(".film-length");
      if (!film || !length) return;
      length.textContent = film.seconds ? t("filmSeconds", { n: Math.round(film.seconds) }) : t("filmPreparing");
    });
    var film = currentFilm();
    renderFeature(film);
    var ready = {};
    ((film && film.variants) || []).forEach(function (v) { ready[v.gender] = v.ready; });
    var anyReady = false;
    document.querySelectorAll("input[name=gender]").forEach(function (input) {
      var ok = !!ready[input.value];
      anyReady = anyReady || ok;
      input.disabled = !ok;
      if (!ok) input.checked = false;
      var label = input.closest(".choice");
      label.hidden = !(input.value in ready) && Object.keys(ready).length > 0; // a role this film lacks
      label.classList.toggle("unavailable", !ok);
      label.querySelector(".soon").hidden = ok;
    });
    $("roles-note").hidden = anyReady;
    var allReady = films.every(function (f) { return f.variants.every(function (v) { return v.ready; }); });
    clearTimeout(filmsTimer);
    if (!allReady) filmsTimer = setTimeout(refreshFilms, anyReady ? 30000 : 10000);
    updateSubmit();
  }
  // The selected film at the top of the page: its cover, then a muted loop of the film once it is ready.
  function renderFeature(film) {
    var feature = $("feature");
    if (!feature || !film) return;
    var title = $("feature-title");
    title.setAttribute("data-zh", film.title);
    title.setAttribute("data-en", film.title_en || film.title);
    title.textContent = lang === "zh" ? film.title : (film.title_en || film.title);
    $("feature-length").textContent = film.seconds ? t("filmSeconds", { n: Math.round(film.seconds) }) : t("filmPreparing");
    var trailer = $("trailer");
    if (film.cover_url && trailer.getAttribute("data-cover") !== film.slug) {
      trailer.poster = film.cover_url;
      trailer.setAttribute("data-cover", film.slug);
      if ($("feature-poster")) $("feature-poster").src = film.cover_url;
    }
    // Signed URLs are renewed on every refresh: change the source only for another film.
    var wanted = film.trailer_url ? film.slug : "";
    if (trailer.getAttribute("data-film") !== wanted) {
      trailer.setAttribute("data-film", wanted);
      if (!film.trailer_url) {  // not ready yet: its cover only
        trailer.removeAttribute("src");
        trailer.load();
        return;
      }
      trailer.src = film.trailer_url;
      var playing = trailer.play();
      if (playing && playing.catch) playing.catch(function () { /* autoplay refused: the cover stays */ });
    }
  }

  function refreshFilms() {
    if (document.hidden || $("step-form").hidden) { filmsTimer = setTimeout(refreshFilms, 10000); return; }
    fetch("/api/campaign", { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { if (body && body.films) films = body.films; renderFilms(); })
      .catch(function () { filmsTimer = setTimeout(refreshFilms, 10000); });
  }
  document.querySelectorAll("input[name=film]").forEach(function (el) {
    el.addEventListener("change", renderFilms);
  });

  function gender() {
    var checked = document.querySelector("input[name=gender]:checked");
    return checked ? checked.value : "";
  }
  function ageConfirmation() {
    var checked = document.querySelector("input[name=age]:checked");
    return checked ? checked.value : "";
  }
  function updateSubmit() {
    $("submit").disabled = !(photoBlob && gender() && $("consent").checked && ageConfirmation());
  }
  document.querySelectorAll("input[name=gender], #consent, input[name=age]").forEach(function (el) {
    el.addEventListener("change", updateSubmit);
  });

  function showError(el, code, detail) {
    var key = "err_" + code;
    el.textContent = TEXT[lang][key] ? t(key, { age: minAge }) : detail || t("err_generic");
    el.hidden = false;
  }
  function hideError() { $("form-error").hidden = true; }

  function submit() {
    hideError();
    $("submit").disabled = true;
    $("upload-progress").hidden = false;
    $("upload-label").textContent = t("uploading");
    var form = new FormData();
    form.append("photo", photoBlob, photoName);
    form.append("gender", gender());
    if (filmSlug()) form.append("film", filmSlug());
    form.append("consent", $("consent").checked ? "true" : "false");
    form.append("age_confirmation", ageConfirmation());
    form.append("consent_version", consentVersion);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/jobs");
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) $("upload-bar").value = Math.round((e.loaded / e.total) * 100);
    };
    xhr.onload = function () {
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
      if (xhr.status === 202) {
        startJob(body.id, body.token, { state: "queued", queue_position: body.queue_position, eta_seconds: body.eta_seconds });
        return;
      }
      $("upload-progress").hidden = true;
      if (xhr.status === 503 || (xhr.status === 429 && body.code !== "rate_limited")) {
        var wait = parseInt(xhr.getResponseHeader("Retry-After"), 10) || 10;
        countdownRetry(wait);
        return;
      }
      showError($("form-error"), body.code, body.detail);
      if (body.code === "variant_unavailable") refreshFilms();
      updateSubmit();
    };
    xhr.onerror = function () {
      $("upload-progress").hidden = true;
      showError($("form-error"), "network");
      updateSubmit();
    };
    xhr.send(form);
  }
  $("submit").addEventListener("click", submit);

  function countdownRetry(seconds) {
    var el = $("form-error");
    var left = seconds;
    (function tick() {
      el.textContent = t("busy", { n: left });
      el.hidden = false;
      if (left <= 0) { submit(); return; }
      left -= 1;
      setTimeout(tick, 1000);
    })();
  }

  // ---------------------------------------------------------------- following a job
  var job = null; // {id, token}
  var lastStatus = null;
  var lastSeq = -1;
  var socket = null, pingTimer = null, pollTimer = null, reconnectTimer = null;
  var failures = 0;

  function saveJob() {
    history.replaceState(null, "", "#job=" + job.id + "&token=" + encodeURIComponent(job.token));
    localStorage.setItem("job", JSON.stringify(job));
  }

  function startJob(id, token, initial) {
    job = { id: id, token: token };
    saveJob();
    $("step-form").hidden = true;
    if ($("feature")) { $("feature").hidden = true; $("trailer").pause(); }
    $("step-progress").hidden = false;
    $("step-delete").hidden = false;
    if (initial) render(Object.assign({ seq: -1, progress: 0, posters: [null, null, null, null, null] }, initial));
    fetchStatus();
    connect();
  }

  function stageText(status) {
    return t("st_" + status.state);
  }

  function formatEta(seconds) {
    if (seconds == null) return "";
    return seconds < 90 ? t("eta_s", { n: Math.max(1, Math.round(seconds)) }) : t("eta_m", { n: Math.round(seconds / 60) });
  }

  function render(status) {
    lastStatus = status;
    $("stage-label").textContent = stageText(status);
    $("job-bar").value = Math.round((status.progress || 0) * 100);
    $("queue-label").textContent = status.state === "queued" && status.queue_position
      ? t("queue", { n: Math.max(0, status.queue_position - 1), eta: formatEta(status.eta_seconds) })
      : "";
    var failed = status.state === "failed";
    // A failed job's card shows only the failure and what to do: no "in the making", no progress.
    $("progress-title").textContent = t(failed ? "failedTitle" : "progressTitle");
    $("stage-label").hidden = failed;
    $("job-bar").hidden = failed;
    $("may-leave").hidden = failed;
    if (failed && status.failure) {
      showError($("job-error"), status.failure.code, status.failure.message);
      $("retry-photo").hidden = false;
    } else {
      $("job-error").hidden = true;
      $("retry-photo").hidden = true;
    }
    var posters = status.posters || [];
    var anyPoster = posters.some(function (p) { return p; });
    if (anyPoster || status.video) $("step-results").hidden = false;
    renderPosters(posters);
    renderVideo(status);
    if (status.state === "done") $("step-progress").hidden = true;
    $("wechat-hint").hidden = !isWeChat || !anyPoster;
    renderTip(status.warnings || [], anyPoster);
  }

  // The photo was accepted with a soft warning (swap.analysis, swap.asset): once there are results,
  // one line on what would make the next try look more like the visitor (the most useful first).
  var TIP_ORDER = ["glasses", "side_lit", "head_turned", "face_small", "soft_focus", "hand_near_face", "expression_moderate"];
  function renderTip(warnings, anyPoster) {
    var code = TIP_ORDER.filter(function (c) { return warnings.indexOf(c) >= 0; })[0];
    var tip = $("photo-tip");
    tip.hidden = !code || !anyPoster;
    tip.textContent = code ? t("tip_" + code) : "";
  }

  function renderPosters(posters) {
    var box = $("posters");
    for (var i = 0; i < 5; i++) {
      var slot = box.children[i];
      if (!slot) {
        slot = document.createElement("div");
        slot.className = "slot";
        slot.textContent = t("poster", { n: i + 1 });
        box.appendChild(slot);
      }
      var poster = posters[i];
      if (poster && poster.url) {
        var img = slot.querySelector("img");
        // Signed URLs change when they are renewed; keep the loaded image unless the file is new.
        if (!img) {
          slot.textContent = "";
          img = document.createElement("img");
          img.src = poster.url;
          img.alt = t("posterAlt", { n: i + 1 });
          img.setAttribute("data-position", String(i + 1));
          slot.appendChild(img);
        }
        if (i === 0 && !isWeChat) {
          $("download-poster").href = poster.url;
          $("download-poster").hidden = false;
        }
      }
    }
  }

  function renderVideo(status) {
    var video = $("video");
    if (!status.video) {
      $("video-pending").hidden = status.state === "failed";
      return;
    }
    $("video-pending").hidden = true;
    if (!video.getAttribute("src")) {
      if (status.video.cover_url) video.poster = status.video.cover_url;
      video.src = status.video.url;
      video.hidden = false;
      $("play").hidden = false;
      $("download-video").href = status.video.url;
      // Inside WeChat downloads do nothing: the hint says to open the page in the browser instead.
      $("download-video").hidden = isWeChat;
      $("share").hidden = isWeChat || !navigator.share;
      if (!isWeChat && navigator.share) prepareShareFile(status.video.url);
    }
  }

  function onStatus(status) {
    if (status.seq != null && status.seq < lastSeq) return; // stale
    if (status.seq != null) lastSeq = status.seq;
    render(status);
    if (status.state === "done" || status.state === "failed") stopLive();
  }

  function fetchStatus() {
    if (!job) return Promise.resolve();
    return fetch("/api/jobs/" + job.id, { headers: { Authorization: "Bearer " + job.token }, cache: "no-store" })
      .then(function (r) {
        return r.json().then(function (body) { return { status: r.status, body: body }; });
      })
      .then(function (res) {
        if (res.status === 200) { if (!socket) $("conn-label").hidden = failures === 0; onStatus(res.body); return; }
        if (res.status === 404 || res.status === 410 || res.status === 401) {
          forgetJob();
          $("progress-title").textContent = t("goneTitle");
          ["stage-label", "job-bar", "queue-label", "may-leave"].forEach(function (id) { $(id).hidden = true; });
          showError($("job-error"), res.body.code, res.body.detail);
          $("step-progress").hidden = false;
          $("step-form").hidden = true;
          $("step-results").hidden = true;
          $("step-delete").hidden = true;
        }
      })
      .catch(function () { /* offline: the socket/poll retry covers it */ });
  }

  function connect() {
    if (!job || document.hidden) return;
    if (lastStatus && (lastStatus.state === "done" || lastStatus.state === "failed")) return;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    try {
      socket = new WebSocket(scheme + location.host + "/ws/jobs/" + job.id + "/");
    } catch (err) {
      scheduleReconnect();
      return;
    }
    socket.onopen = function () {
      socket.send(JSON.stringify({ type: "auth", token: job.token }));
      clearInterval(pingTimer);
      pingTimer = setInterval(function () {
        if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "ping" }));
      }, pingMs);
    };
    socket.onmessage = function (e) {
      var msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      if (msg.type === "pong") return;
      if (msg.type === "error") { fetchStatus(); return; }
      failures = 0;
      $("conn-label").hidden = true;
      stopPolling();
      if (msg.job) onStatus(msg.job);
    };
    socket.onclose = function (e) {
      clearInterval(pingTimer);
      socket = null;
      if (e.code === 4403 || e.code === 4410) { fetchStatus(); return; }
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (!job || document.hidden) return;
    if (lastStatus && (lastStatus.state === "done" || lastStatus.state === "failed")) return;
    failures += 1;
    $("conn-label").hidden = false;
    if (failures >= 3) startPolling();
    var delay = Math.min(30000, 1000 * Math.pow(2, failures - 1));
    delay = delay / 2 + Math.random() * delay / 2; // jitter: phones reconnecting together spread out
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, delay);
  }

  function startPolling() {
    if (pollTimer) return;
    pollTimer = setInterval(fetchStatus, 4000);
  }
  function stopPolling() { clearInterval(pollTimer); pollTimer = null; }

  function stopLive() {
    $("conn-label").hidden = true;
    clearTimeout(reconnectTimer);
    clearInterval(pingTimer);
    stopPolling();
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
  }

  document.addEventListener("visibilitychange", function () {
    if (!job) return;
    if (document.hidden) {
      stopLive();
    } else {
      fetchStatus().then(function () { failures = 0; connect(); });
    }
  });
  window.addEventListener("online", function () {
    if (job && !document.hidden) { fetchStatus(); failures = 0; if (!socket) connect(); }
  });
  window.addEventListener("pageshow", function (e) {
    // Back/forward cache (Safari, WeChat): the page returns frozen with dead timers and sockets.
    if (e.persisted && job) { failures = 0; fetchStatus(); if (!socket) connect(); }
  });

  function forgetJob() {
    stopLive();
    localStorage.removeItem("job");
    history.replaceState(null, "", location.pathname);
    job = null;
  }

  $("retry-photo").addEventListener("click", function () {
    forgetJob();
    lastStatus = null; lastSeq = -1;
    $("step-progress").hidden = true;
    $("step-results").hidden = true;
    $("step-delete").hidden = true;
    $("posters").innerHTML = "";
    $("step-form").hidden = false;
    if ($("feature")) $("feature").hidden = false;
    $("upload-progress").hidden = true;
    ["stage-label", "job-bar", "queue-label", "may-leave"].forEach(function (id) { $(id).hidden = false; });
    $("progress-title").textContent = t("progressTitle");
    refreshFilms();
  });

  $("delete").addEventListener("click", function () {
    if (!job || !window.confirm(t("confirmDelete"))) return;
    fetch("/api/jobs/" + job.id, { method: "DELETE", headers: { Authorization: "Bearer " + job.token } })
      .then(function (r) {
        if (r.status === 204 || r.status === 410 || r.status === 404) {
          forgetJob();
          $("step-progress").hidden = true;
          $("step-results").hidden = true;
          $("posters").innerHTML = "";
          $("video").removeAttribute("src");
          $("delete").hidden = true;
          $("deleted-note").hidden = false;
        }
      });
  });

  // Sharing: the file itself where the browser can share files (navigator.canShare({files})), else the
  // campaign link; the <a download> links stay as the fallback. The video is fetched in advance so that
  // share() runs inside the tap (browsers refuse share() once the user activation has expired).
  var shareFile = null;
  function prepareShareFile(url) {
    if (shareFile || !navigator.canShare || !window.File) return;
    fetch(url).then(function (r) { return r.blob(); }).then(function (blob) {
      var file = new File([blob], "protagonist.mp4", { type: "video/mp4" });
      if (navigator.canShare({ files: [file] })) shareFile = file;
    }).catch(function () { /* share the link instead */ });
  }
  $("share").addEventListener("click", function () {
    var data = { title: document.title, text: t("aiLabel"), url: shareUrl };
    if (shareFile) data = { title: document.title, files: [shareFile] };
    navigator.share(data).catch(function () { /* cancelled */ });
  });
  $("play").addEventListener("click", function () {
    var video = $("video");
    var played = video.play();
    if (played && played.catch) played.catch(function () { /* the controls still work */ });
  });
  $("video").addEventListener("play", function () { $("play").hidden = true; });
  $("video").addEventListener("pause", function () { if (!$("video").ended) $("play").hidden = false; });

  // ---------------------------------------------------------------- resume from the URL
  function resume() {
    var params = new URLSearchParams(location.hash.slice(1));
    var id = params.get("job"), token = params.get("token");
    if (!id || !token) {
      try {
        var saved = JSON.parse(localStorage.getItem("job") || "null");
        if (saved && saved.id && saved.token) { id = saved.id; token = saved.token; }
      } catch (err) { /* ignore */ }
    }
    if (id && token) startJob(id, token, null);
  }

  applyLanguage();
  resume();
})();
