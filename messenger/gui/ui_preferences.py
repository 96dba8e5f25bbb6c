# -*- coding: utf-8 -*-

################################################################################
## Form generated from reading UI file 'preferences.ui'
##
## Created by: Qt User Interface Compiler version 6.11.3
##
## WARNING! All changes made in this file will be lost when recompiling UI file!
################################################################################

from PySide6.QtCore import (QCoreApplication, QDate, QDateTime, QLocale,
    QMetaObject, QObject, QPoint, QRect,
    QSize, QTime, QUrl, Qt)
from PySide6.QtGui import (QBrush, QColor, QConicalGradient, QCursor,
    QFont, QFontDatabase, QGradient, QIcon,
    QImage, QKeySequence, QLinearGradient, QPainter,
    QPalette, QPixmap, QRadialGradient, QTransform)
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QApplication, QCheckBox,
    QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
    QFormLayout, QGroupBox, QHBoxLayout, QLabel,
    QLineEdit, QListView, QPushButton, QSizePolicy,
    QSpacerItem, QVBoxLayout, QWidget)

class Ui_PreferencesDialog(object):
    def setupUi(self, PreferencesDialog):
        if not PreferencesDialog.objectName():
            PreferencesDialog.setObjectName(u"PreferencesDialog")
        PreferencesDialog.resize(480, 500)
        self.mainLayout = QVBoxLayout(PreferencesDialog)
        self.mainLayout.setObjectName(u"mainLayout")
        self.notificationsGroup = QGroupBox(PreferencesDialog)
        self.notificationsGroup.setObjectName(u"notificationsGroup")
        self.notificationsLayout = QVBoxLayout(self.notificationsGroup)
        self.notificationsLayout.setObjectName(u"notificationsLayout")
        self.notifyCheck = QCheckBox(self.notificationsGroup)
        self.notifyCheck.setObjectName(u"notifyCheck")

        self.notificationsLayout.addWidget(self.notifyCheck)

        self.showTextCheck = QCheckBox(self.notificationsGroup)
        self.showTextCheck.setObjectName(u"showTextCheck")

        self.notificationsLayout.addWidget(self.showTextCheck)


        self.mainLayout.addWidget(self.notificationsGroup)

        self.privacyGroup = QGroupBox(PreferencesDialog)
        self.privacyGroup.setObjectName(u"privacyGroup")
        self.privacyLayout = QVBoxLayout(self.privacyGroup)
        self.privacyLayout.setObjectName(u"privacyLayout")
        self.readReceiptsCheck = QCheckBox(self.privacyGroup)
        self.readReceiptsCheck.setObjectName(u"readReceiptsCheck")

        self.privacyLayout.addWidget(self.readReceiptsCheck)

        self.typingCheck = QCheckBox(self.privacyGroup)
        self.typingCheck.setObjectName(u"typingCheck")

        self.privacyLayout.addWidget(self.typingCheck)


        self.mainLayout.addWidget(self.privacyGroup)

        self.transfersGroup = QGroupBox(PreferencesDialog)
        self.transfersGroup.setObjectName(u"transfersGroup")
        self.transfersLayout = QVBoxLayout(self.transfersGroup)
        self.transfersLayout.setObjectName(u"transfersLayout")
        self.formLayout = QFormLayout()
        self.formLayout.setObjectName(u"formLayout")
        self.folderLabel = QLabel(self.transfersGroup)
        self.folderLabel.setObjectName(u"folderLabel")

        self.formLayout.setWidget(0, QFormLayout.ItemRole.LabelRole, self.folderLabel)

        self.folderLayout = QHBoxLayout()
        self.folderLayout.setObjectName(u"folderLayout")
        self.folderEdit = QLineEdit(self.transfersGroup)
        self.folderEdit.setObjectName(u"folderEdit")

        self.folderLayout.addWidget(self.folderEdit)

        self.chooseButton = QPushButton(self.transfersGroup)
        self.chooseButton.setObjectName(u"chooseButton")
        self.chooseButton.setAutoDefault(False)

        self.folderLayout.addWidget(self.chooseButton)


        self.formLayout.setLayout(0, QFormLayout.ItemRole.FieldRole, self.folderLayout)

        self.sizeLabel = QLabel(self.transfersGroup)
        self.sizeLabel.setObjectName(u"sizeLabel")

        self.formLayout.setWidget(1, QFormLayout.ItemRole.LabelRole, self.sizeLabel)

        self.sizeLayout = QHBoxLayout()
        self.sizeLayout.setObjectName(u"sizeLayout")
        self.sizeSpin = QDoubleSpinBox(self.transfersGroup)
        self.sizeSpin.setObjectName(u"sizeSpin")
        self.sizeSpin.setMinimumWidth(110)

        self.sizeLayout.addWidget(self.sizeSpin)

        self.unitCombo = QComboBox(self.transfersGroup)
        self.unitCombo.setObjectName(u"unitCombo")

        self.sizeLayout.addWidget(self.unitCombo)

        self.sizeSpacer = QSpacerItem(0, 0, QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)

        self.sizeLayout.addItem(self.sizeSpacer)


        self.formLayout.setLayout(1, QFormLayout.ItemRole.FieldRole, self.sizeLayout)

        self.sizeNote = QLabel(self.transfersGroup)
        self.sizeNote.setObjectName(u"sizeNote")
        self.sizeNote.setWordWrap(True)
        self.sizeNote.setStyleSheet(u"color: palette(placeholder-text);")

        self.formLayout.setWidget(2, QFormLayout.ItemRole.FieldRole, self.sizeNote)


        self.transfersLayout.addLayout(self.formLayout)

        self.autoLabel = QLabel(self.transfersGroup)
        self.autoLabel.setObjectName(u"autoLabel")

        self.transfersLayout.addWidget(self.autoLabel)

        self.filterEdit = QLineEdit(self.transfersGroup)
        self.filterEdit.setObjectName(u"filterEdit")
        self.filterEdit.setClearButtonEnabled(True)

        self.transfersLayout.addWidget(self.filterEdit)

        self.contactsView = QListView(self.transfersGroup)
        self.contactsView.setObjectName(u"contactsView")
        self.contactsView.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)

        self.transfersLayout.addWidget(self.contactsView)

        self.chosenLabel = QLabel(self.transfersGroup)
        self.chosenLabel.setObjectName(u"chosenLabel")
        self.chosenLabel.setWordWrap(True)

        self.transfersLayout.addWidget(self.chosenLabel)


        self.mainLayout.addWidget(self.transfersGroup)

        self.errorLabel = QLabel(PreferencesDialog)
        self.errorLabel.setObjectName(u"errorLabel")
        self.errorLabel.setStyleSheet(u"color: #b3261e; font-weight: bold;")
        self.errorLabel.setWordWrap(True)

        self.mainLayout.addWidget(self.errorLabel)

        self.buttonBox = QDialogButtonBox(PreferencesDialog)
        self.buttonBox.setObjectName(u"buttonBox")
        self.buttonBox.setStandardButtons(QDialogButtonBox.StandardButton.Cancel|QDialogButtonBox.StandardButton.Ok)

        self.mainLayout.addWidget(self.buttonBox)

#if QT_CONFIG(shortcut)
        self.folderLabel.setBuddy(self.folderEdit)
        self.sizeLabel.setBuddy(self.sizeSpin)
        self.autoLabel.setBuddy(self.filterEdit)
#endif // QT_CONFIG(shortcut)
        QWidget.setTabOrder(self.notifyCheck, self.showTextCheck)
        QWidget.setTabOrder(self.showTextCheck, self.readReceiptsCheck)
        QWidget.setTabOrder(self.readReceiptsCheck, self.typingCheck)
        QWidget.setTabOrder(self.typingCheck, self.folderEdit)
        QWidget.setTabOrder(self.folderEdit, self.chooseButton)
        QWidget.setTabOrder(self.chooseButton, self.sizeSpin)
        QWidget.setTabOrder(self.sizeSpin, self.unitCombo)
        QWidget.setTabOrder(self.unitCombo, self.filterEdit)
        QWidget.setTabOrder(self.filterEdit, self.contactsView)

        self.retranslateUi(PreferencesDialog)
        self.buttonBox.rejected.connect(PreferencesDialog.reject)

        QMetaObject.connectSlotsByName(PreferencesDialog)
    # setupUi

    def retranslateUi(self, PreferencesDialog):
        PreferencesDialog.setWindowTitle(QCoreApplication.translate("PreferencesDialog", u"Preferences", None))
        self.notificationsGroup.setTitle(QCoreApplication.translate("PreferencesDialog", u"Notifications", None))
        self.notifyCheck.setText(QCoreApplication.translate("PreferencesDialog", u"&Notify me of new messages while the window is in the background", None))
#if QT_CONFIG(accessibility)
        self.notifyCheck.setAccessibleName(QCoreApplication.translate("PreferencesDialog", u"Notify of new messages", None))
#endif // QT_CONFIG(accessibility)
#if QT_CONFIG(tooltip)
        self.notifyCheck.setToolTip(QCoreApplication.translate("PreferencesDialog", u"A desktop notification, and the task bar entry asks for attention; muted conversations only count in their badges", None))
#endif // QT_CONFIG(tooltip)
        self.showTextCheck.setText(QCoreApplication.translate("PreferencesDialog", u"Show the &sender and the text in notifications", None))
#if QT_CONFIG(accessibility)
        self.showTextCheck.setAccessibleName(QCoreApplication.translate("PreferencesDialog", u"Show sender and text in notifications", None))
#endif // QT_CONFIG(accessibility)
#if QT_CONFIG(tooltip)
        self.showTextCheck.setToolTip(QCoreApplication.translate("PreferencesDialog", u"Turn this off when others can see your screen: notifications then only say how many messages came", None))
#endif // QT_CONFIG(tooltip)
        self.privacyGroup.setTitle(QCoreApplication.translate("PreferencesDialog", u"Privacy", None))
        self.readReceiptsCheck.setText(QCoreApplication.translate("PreferencesDialog", u"Send &read receipts", None))
#if QT_CONFIG(accessibility)
        self.readReceiptsCheck.setAccessibleName(QCoreApplication.translate("PreferencesDialog", u"Send read receipts", None))
#endif // QT_CONFIG(accessibility)
#if QT_CONFIG(tooltip)
        self.readReceiptsCheck.setToolTip(QCoreApplication.translate("PreferencesDialog", u"When this is off, others do not see when you have read their messages here (they still see that your app received them); you still see when they read yours. Your other computers have their own switch", None))
#endif // QT_CONFIG(tooltip)
        self.typingCheck.setText(QCoreApplication.translate("PreferencesDialog", u"Send and show &typing indicators", None))
#if QT_CONFIG(accessibility)
        self.typingCheck.setAccessibleName(QCoreApplication.translate("PreferencesDialog", u"Send and show typing indicators", None))
#endif // QT_CONFIG(accessibility)
#if QT_CONFIG(tooltip)
        self.typingCheck.setToolTip(QCoreApplication.translate("PreferencesDialog", u"When this is off, others do not see when you are typing here, and you do not see when they are. Your other computers have their own switch", None))
#endif // QT_CONFIG(tooltip)
        self.transfersGroup.setTitle(QCoreApplication.translate("PreferencesDialog", u"Transfers", None))
        self.folderLabel.setText(QCoreApplication.translate("PreferencesDialog", u"&Download folder:", None))
#if QT_CONFIG(accessibility)
        self.folderEdit.setAccessibleName(QCoreApplication.translate("PreferencesDialog", u"Download folder", None))
#endif // QT_CONFIG(accessibility)
#if QT_CONFIG(tooltip)
        self.folderEdit.setToolTip(QCoreApplication.translate("PreferencesDialog", u"Received files are saved here; the folder is created when needed", None))
#endif // QT_CONFIG(tooltip)
        self.chooseButton.setText(QCoreApplication.translate("PreferencesDialog", u"C&hoose\u2026", None))
#if QT_CONFIG(accessibility)
        self.chooseButton.setAccessibleName(QCoreApplication.translate("PreferencesDialog", u"Choose the download folder", None))
#endif // QT_CONFIG(accessibility)
        self.sizeLabel.setText(QCoreApplication.translate("PreferencesDialog", u"&Largest file:", None))
#if QT_CONFIG(accessibility)
        self.sizeSpin.setAccessibleName(QCoreApplication.translate("PreferencesDialog", u"Size limit", None))
#endif // QT_CONFIG(accessibility)
#if QT_CONFIG(tooltip)
        self.sizeSpin.setToolTip(QCoreApplication.translate("PreferencesDialog", u"Larger files are refused before the transfer starts, in both directions", None))
#endif // QT_CONFIG(tooltip)
#if QT_CONFIG(accessibility)
        self.unitCombo.setAccessibleName(QCoreApplication.translate("PreferencesDialog", u"Size limit unit", None))
#endif // QT_CONFIG(accessibility)
#if QT_CONFIG(accessibility)
        self.unitCombo.setAccessibleDescription(QCoreApplication.translate("PreferencesDialog", u"Unit of the largest file size (1 GB = 1024 MB)", None))
#endif // QT_CONFIG(accessibility)
#if QT_CONFIG(tooltip)
        self.unitCombo.setToolTip(QCoreApplication.translate("PreferencesDialog", u"1 GB = 1024 MB", None))
#endif // QT_CONFIG(tooltip)
        self.sizeNote.setText(QCoreApplication.translate("PreferencesDialog", u"Larger files are neither sent nor accepted.", None))
        self.autoLabel.setText(QCoreApplication.translate("PreferencesDialog", u"&Accept files automatically from:", None))
        self.filterEdit.setPlaceholderText(QCoreApplication.translate("PreferencesDialog", u"Filter contacts\u2026", None))
#if QT_CONFIG(accessibility)
        self.filterEdit.setAccessibleName(QCoreApplication.translate("PreferencesDialog", u"Filter contacts", None))
#endif // QT_CONFIG(accessibility)
#if QT_CONFIG(accessibility)
        self.contactsView.setAccessibleName(QCoreApplication.translate("PreferencesDialog", u"Contacts whose files are accepted automatically", None))
#endif // QT_CONFIG(accessibility)
        self.chosenLabel.setText(QCoreApplication.translate("PreferencesDialog", u"Nobody: every file asks first.", None))
#if QT_CONFIG(accessibility)
        self.errorLabel.setAccessibleDescription(QCoreApplication.translate("PreferencesDialog", u"Error", None))
#endif // QT_CONFIG(accessibility)
    # retranslateUi

